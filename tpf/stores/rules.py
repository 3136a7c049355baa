"""Record rules every store shares: lease claim/renew, TTL liveness, dead-letter bookkeeping,
worker event folding, release identity and conflicts.

Pure functions over immutable records, so the memory, SQLite and DynamoDB stores decide the same
thing the same way and only differ in how they persist the answer.
"""

from __future__ import annotations

from typing import Any

import msgspec
from msgspec.structs import replace

from tpf.core.errors import Conflict
from tpf.core.lifecycle import is_claimable, lease
from tpf.core.records import (
    PENDING_INTERACTION_STATUSES,
    AwaitInteraction,
    ExecutionRecord,
    ExecutionStatus,
    ReleaseRecord,
    WorkerEvent,
    WorkerEventType,
    WorkerRecord,
    WorkerState,
)


def is_expired(record: ExecutionRecord, now_ms: int) -> bool:
    """TTL check of the store convention. ``ttl_epoch_s == 0`` means "no TTL" (the original's
    ``attribute_not_exists(ttl)``), otherwise a default-built record would be born expired.

    Only a terminal record expires. Live records no longer get a TTL, but ones written by older
    versions carry a submit-time TTL; ignoring it keeps a parked execution readable, completable
    and never deleted however long it waits (the TTL goes on its next commit).
    """
    return record.terminal and record.ttl_epoch_s > 0 and record.ttl_epoch_s * 1000 <= now_ms


def claimed(
    record: ExecutionRecord | None, owner: str, now_ms: int, lease_ms: int
) -> ExecutionRecord | None:
    """``record`` leased to ``owner`` if it is claimable now, else ``None``."""
    if lease_ms <= 0:
        raise ValueError(f"lease_ms must be positive, got {lease_ms}")
    if record is None or is_expired(record, now_ms) or not is_claimable(record, now_ms):
        return None
    return lease(record, owner, now_ms, lease_ms)


def renewed(
    record: ExecutionRecord | None, owner: str, version: int, now_ms: int, lease_ms: int
) -> ExecutionRecord | None:
    """``record`` with its lease extended if ``owner`` still holds it at ``version``."""
    if lease_ms <= 0:
        raise ValueError(f"lease_ms must be positive, got {lease_ms}")
    if record is None or is_expired(record, now_ms):
        return None
    if (
        record.status != ExecutionStatus.RUNNING
        or record.lease_owner != owner
        or record.version != version
    ):
        return None
    expires = now_ms + lease_ms
    return replace(record, lease_expires_epoch_ms=expires, next_due_epoch_ms=expires)


def dead_letter_key(record: ExecutionRecord) -> str | None:
    """The oldest unpublished envelope's transition key (indexed: non-null = to publish)."""
    return record.dead_letters[0].transition_key if record.dead_letters else None


def without_dead_letter(record: ExecutionRecord, transition_key: str) -> ExecutionRecord | None:
    """``record`` with the envelope of ``transition_key`` published, or ``None`` if it has none."""
    kept = tuple(e for e in record.dead_letters if e.transition_key != transition_key)
    if len(kept) == len(record.dead_letters):
        return None
    return replace(record, dead_letters=kept)


def is_unapplied(interaction: AwaitInteraction) -> bool:
    """Resolved (any non-pending status) but not yet applied to its execution."""
    return interaction.status not in PENDING_INTERACTION_STATUSES and not interaction.applied


def hold_key(tenant_id: str, handle_kind: str, handle: str) -> str:
    """A held completion's key and listing order: ``"{len}:{part}:..."`` (no separator inside a
    tenant or id can make two holds collide). UTF-8 byte order, which SQLite and DynamoDB sort
    by, is code point order, which Python sorts by: every backend lists holds the same way."""
    return ":".join(f"{len(p)}:{p}" for p in (tenant_id, handle_kind, handle))


def fold_worker_event(previous: WorkerRecord | None, event: WorkerEvent) -> WorkerRecord | None:
    """The worker record after ``event``; ``None`` for HEARTBEAT/DRAIN of an unknown worker."""
    at = event.at_epoch_ms
    if event.event_type == WorkerEventType.REGISTER:
        # Re-registering overwrites identity and clears a drain (the memory provider's rule;
        # the original Dynamo provider kept drained ids DRAINING forever).
        return WorkerRecord(
            tenant_id=event.tenant_id,
            pipeline_id=event.pipeline_id,
            contract_version=event.contract_version,
            release_version=event.release_version,
            worker_id=event.worker_id,
            protocol=event.protocol,
            endpoint=event.endpoint,
            artifact_id=event.artifact_id,
            artifact_digest=event.artifact_digest,
            state=WorkerState.HEALTHY,
            registered_at_epoch_ms=at,
            last_heartbeat_at_epoch_ms=at,
        )
    if previous is None:
        return None
    if event.event_type == WorkerEventType.HEARTBEAT:
        return replace(previous, last_heartbeat_at_epoch_ms=at)
    if previous.state == WorkerState.DRAINING:
        return previous  # keep the first drain time: "draining since"
    return replace(previous, state=WorkerState.DRAINING, draining_since_epoch_ms=at)


class ReleaseActivation(msgspec.Struct, frozen=True, rename="camel"):
    """One append-only activation event of the release registry."""

    tenant_id: str
    pipeline_id: str
    release_version: str
    at_epoch_ms: int


def release_identity(record: ReleaseRecord) -> tuple[Any, ...]:
    """The immutable metadata two registrations of one release version must agree on."""
    return (
        record.contract_version,
        record.primary_artifact_id,
        record.primary_artifact_digest,
        record.primary_artifact_uri,
        record.primary_artifact_size_bytes,
        record.primary_artifact_checksum,
        msgspec.json.encode(record.descriptor, order="deterministic"),
        msgspec.json.encode(record.contract, order="deterministic"),
    )


# The scalar parts of release_identity, by their JSON names (what a conflict message shows).
_IDENTITY_FIELDS = (
    ("contractVersion", "contract_version"),
    ("primaryArtifactId", "primary_artifact_id"),
    ("primaryArtifactDigest", "primary_artifact_digest"),
    ("primaryArtifactUri", "primary_artifact_uri"),
    ("primaryArtifactSizeBytes", "primary_artifact_size_bytes"),
    ("primaryArtifactChecksum", "primary_artifact_checksum"),
)
_SHOWN_DIFFERENCES = 8


def release_conflict(existing: ReleaseRecord, record: ReleaseRecord) -> Conflict | None:
    """The 409 for registering ``record`` over ``existing``, naming what differs, or ``None``."""
    if release_identity(existing) == release_identity(record):
        return None
    fields = [
        name for name, attr in _IDENTITY_FIELDS if getattr(existing, attr) != getattr(record, attr)
    ]
    for name in ("descriptor", "contract"):
        old, new = getattr(existing, name), getattr(record, name)
        if msgspec.json.encode(old, order="deterministic") != msgspec.json.encode(
            new, order="deterministic"
        ):
            fields.extend(_differences(name, old, new) or [name])
    shown = ", ".join(fields[:_SHOWN_DIFFERENCES])
    if len(fields) > _SHOWN_DIFFERENCES:
        shown += f" and {len(fields) - _SHOWN_DIFFERENCES} more"
    return Conflict(
        "Release version is already registered with different metadata "
        f"(releaseVersion {record.release_version}; differing: {shown})"
    )


def _differences(path: str, old: Any, new: Any) -> list[str]:
    """Paths (``descriptor.artifacts[0].uri``) of the leaves where two JSON values differ."""
    if isinstance(old, dict) and isinstance(new, dict):
        found: list[str] = []
        for key in sorted(set(old) | set(new), key=str):
            where = f"{path}.{key}"
            if key not in old or key not in new:
                found.append(where)
            else:
                found.extend(_differences(where, old[key], new[key]))
        return found
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        pairs = enumerate(zip(old, new, strict=True))
        return [d for i, (a, b) in pairs for d in _differences(f"{path}[{i}]", a, b)]
    same = type(old) is type(new) and old == new
    return [] if same else [path]
