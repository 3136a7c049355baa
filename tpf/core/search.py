"""Execution search and interaction paging (issue 12): the query, the page, the cursor.

Search lists a tenant's executions newest first by ``updated_at_epoch_ms`` (then by
``execution_id``, descending, to break ties), filtered by exact matches and an update-time
window. Pages are keyset pages: the cursor is the sort key of the last item served, made opaque
(base64url of JSON), so a page costs one index range read on every store however deep it is,
and items updated meanwhile move to the top instead of shifting later pages. A cursor that does
not decode is a :class:`~tpf.core.errors.ValidationError` naming ``cursor``.
"""

from __future__ import annotations

import base64
import binascii
from typing import Generic, TypeVar

import msgspec

from tpf.core.errors import ValidationError
from tpf.core.records import AwaitInteraction, ExecutionRecord, ExecutionStatus

T = TypeVar("T")
DEFAULT_LIMIT = 50
MAX_LIMIT = 500


class ExecutionQuery(msgspec.Struct, frozen=True, kw_only=True):
    """Filters of an execution search; ``None`` matches everything. The window is inclusive:
    ``updated_after_ms <= updated_at_epoch_ms <= updated_before_ms``."""

    tenant_id: str
    pipeline_id: str | None = None
    status: ExecutionStatus | None = None
    release_version: str | None = None
    step_id: str | None = None  # the record's current_step_id
    error_code: str | None = None
    updated_after_ms: int | None = None
    updated_before_ms: int | None = None


class SearchKey(msgspec.Struct, frozen=True, array_like=True):
    """Where a page ended: the sort key of its last item."""

    updated_at_epoch_ms: int
    execution_id: str


class PendingKey(msgspec.Struct, frozen=True, array_like=True):
    """Where a page of pending interactions ended (they are listed by deadline, then id)."""

    deadline_epoch_ms: int
    interaction_id: str


class Page(msgspec.Struct, Generic[T], frozen=True):
    """Up to ``limit`` items and the cursor of the next page (``None`` on the last one)."""

    items: list[T]
    next_cursor: str | None = None


ExecutionPage = Page[ExecutionRecord]
InteractionPage = Page[AwaitInteraction]

_K = TypeVar("_K", SearchKey, PendingKey)


def encode_cursor(key: SearchKey | PendingKey) -> str:
    return base64.urlsafe_b64encode(msgspec.json.encode(key)).decode().rstrip("=")


def decode_cursor(cursor: str | None, kind: type[_K]) -> _K | None:
    """The key ``cursor`` names, ``None`` for no cursor; a ValidationError if it is not one."""
    if cursor is None or cursor == "":
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        return msgspec.json.decode(raw, type=kind)
    except (binascii.Error, ValueError, msgspec.DecodeError) as exc:
        raise ValidationError("cursor: not a cursor this coordinator issued") from exc


def search_key(record: ExecutionRecord) -> SearchKey:
    return SearchKey(record.updated_at_epoch_ms, record.execution_id)


def pending_key(interaction: AwaitInteraction) -> PendingKey:
    return PendingKey(interaction.deadline_epoch_ms, interaction.interaction_id)


def matches(query: ExecutionQuery, record: ExecutionRecord) -> bool:
    """Whether ``record`` passes every filter of ``query`` (the reference every store's index
    read must agree with; the memory store uses it directly)."""
    return (
        record.tenant_id == query.tenant_id
        and (query.pipeline_id is None or record.pipeline_id == query.pipeline_id)
        and (query.status is None or record.status is query.status)
        and (query.release_version is None or record.release_version == query.release_version)
        and (query.step_id is None or record.current_step_id == query.step_id)
        and (query.error_code is None or record.error_code == query.error_code)
        and (query.updated_after_ms is None or record.updated_at_epoch_ms >= query.updated_after_ms)
        and (
            query.updated_before_ms is None or record.updated_at_epoch_ms <= query.updated_before_ms
        )
    )


def before(key: SearchKey, cursor: SearchKey | None) -> bool:
    """Whether ``key`` comes after the page that ended at ``cursor`` (newest first)."""
    return cursor is None or (key.updated_at_epoch_ms, key.execution_id) < (
        cursor.updated_at_epoch_ms,
        cursor.execution_id,
    )
