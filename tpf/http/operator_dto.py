"""Request and response bodies of the operator's routes (issue 12): search, history, the
interaction detail, cancel, bulk re-drive, the pipelines list.

Split from :mod:`tpf.http.dto` (which holds the original's routes' bodies) by surface: these
exist only in this coordinator. Same conventions: camelCase on the wire, requests forbid
unknown fields.
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec

from tpf.core.history import HistoryEntry
from tpf.http.dto import InteractionDto, Request, Response


class ExecutionSummaryDto(Response, kw_only=True):
    execution_id: str
    pipeline_id: str
    release_version: str
    status: str
    step_index: int
    step_id: str | None
    attempt: int
    error_code: str | None
    error_message: str | None
    created_at_epoch_ms: int
    updated_at_epoch_ms: int
    version: int


class ExecutionPageDto(Response, kw_only=True):
    items: list[ExecutionSummaryDto]
    next_cursor: Annotated[
        str | None,
        msgspec.Meta(description="pass as ?cursor= for the next page; null on the last page"),
    ] = None


class HistoryDto(Response, kw_only=True):
    execution_id: str
    entries: list[HistoryEntry]  # oldest first
    dropped: Annotated[
        int, msgspec.Meta(description="entries dropped between the first and the kept latest")
    ]


class InteractionDetailDto(InteractionDto, kw_only=True):
    response_schema: Annotated[
        dict[str, Any] | None,
        msgspec.Meta(description="JSON Schema of the await's output type; null when untyped"),
    ] = None
    completed_by: str | msgspec.UnsetType | None = msgspec.UNSET
    completed_at_epoch_ms: int | msgspec.UnsetType = msgspec.UNSET
    idempotency_key: str | msgspec.UnsetType = msgspec.UNSET


class CancelRequest(Request, kw_only=True):
    reason: str
    expected_version: int | None = None


class BulkRedriveRequest(Request, kw_only=True):
    status: str | None = None
    pipeline_id: str | None = None
    error_code: str | None = None
    updated_before: Annotated[
        int | str | None, msgspec.Meta(description="epoch ms, or an ISO-8601 instant")
    ] = None
    limit: int = 100
    dry_run: bool = False
    reason: str | None = None


class SkippedDto(Response, kw_only=True):
    execution_id: str
    reason: str


class BulkRedriveResponse(Response, kw_only=True):
    matched: int
    redriven: list[str]
    skipped: list[SkippedDto]
    dry_run: bool


class PipelineDto(Response, kw_only=True):
    pipeline_id: str
    active_release_version: str | None
