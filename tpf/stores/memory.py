"""In-memory stores: the ``memory`` providers, used by tests and single-process demos.

Each store keeps the immutable records in a dict plus the indexes its Protocol queries need, so
``find_due``, ``find_overdue``, ``find_dead_letters`` and ``find_unapplied`` touch only matching
entries instead of scanning every record. Records are frozen structs, so storing the caller's
object is safe (nested payload dicts are shared, not copied: callers never mutate them).

The record-level rules shared with the SQLite stores (lease claim/renew, TTL liveness, worker
event folding, release identity and derived status) live here as pure functions.
"""

from __future__ import annotations

import heapq
import itertools
from bisect import bisect_left, insort
from collections import Counter
from collections.abc import Hashable, Iterator
from typing import Any

import msgspec
from msgspec.structs import replace

from tpf.core.errors import Conflict, NotFound
from tpf.core.lifecycle import is_claimable, lease
from tpf.core.records import (
    CLAIMABLE_STATUSES,
    PENDING_INTERACTION_STATUSES,
    AwaitInteraction,
    ExecutionRecord,
    ExecutionStatus,
    ReleaseRecord,
    ReleaseStatus,
    WorkerEvent,
    WorkerEventType,
    WorkerRecord,
    WorkerState,
)

# --------------------------------------------------------------------------- shared rules


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


# --------------------------------------------------------------------------- executions

_Key = tuple[str, str]


class MemoryExecutionStore:
    """Executions in a dict, with a lazy-deletion heap for due records."""

    def __init__(self) -> None:
        self._records: dict[_Key, ExecutionRecord] = {}
        self._by_execution_key: dict[_Key, str] = {}
        # Heap of (next_due, tenant, id, stamp). An entry is current iff ``_stamps[key]`` still
        # equals its stamp; superseded entries are dropped when they reach the top.
        self._due: list[tuple[int, str, str, int]] = []
        self._stamps: dict[_Key, int] = {}
        self._next_stamp = itertools.count()
        self._dead_letters: dict[_Key, None] = {}  # insertion-ordered set
        self._counts: Counter[str] = Counter()

    def _put(self, record: ExecutionRecord) -> None:
        key = (record.tenant_id, record.execution_id)
        old = self._records.get(key)
        if old is not None:
            self._counts[old.status.value] -= 1
        self._counts[record.status.value] += 1
        self._records[key] = record
        self._by_execution_key[(record.tenant_id, record.execution_key)] = record.execution_id
        if record.status in CLAIMABLE_STATUSES:
            unchanged = (
                old is not None
                and old.status in CLAIMABLE_STATUSES
                and old.next_due_epoch_ms == record.next_due_epoch_ms
            )
            if not unchanged:
                stamp = next(self._next_stamp)
                self._stamps[key] = stamp
                heapq.heappush(self._due, (record.next_due_epoch_ms, *key, stamp))
                self._compact_due()
        else:
            self._stamps.pop(key, None)
        if record.dead_letters:
            self._dead_letters[key] = None
        else:
            self._dead_letters.pop(key, None)

    def _compact_due(self) -> None:
        # Superseded entries pile up under frequent rescheduling; rebuild when they dominate.
        if len(self._due) > 2 * len(self._stamps) + 1024:
            self._due = [e for e in self._due if self._stamps.get((e[1], e[2])) == e[3]]
            heapq.heapify(self._due)

    def _delete(self, key: _Key) -> None:
        record = self._records.pop(key)
        self._counts[record.status.value] -= 1
        if self._by_execution_key.get((record.tenant_id, record.execution_key)) == key[1]:
            del self._by_execution_key[(record.tenant_id, record.execution_key)]
        self._stamps.pop(key, None)
        self._dead_letters.pop(key, None)

    def _live(self, tenant_id: str, execution_id: str, now_ms: int) -> ExecutionRecord | None:
        key = (tenant_id, execution_id)
        record = self._records.get(key)
        if record is not None and is_expired(record, now_ms):
            self._delete(key)  # lazy expiry, as the original does on read
            return None
        return record

    async def create_or_get(
        self, record: ExecutionRecord, now_ms: int
    ) -> tuple[ExecutionRecord, bool]:
        existing_id = self._by_execution_key.get((record.tenant_id, record.execution_key))
        if existing_id is not None:
            existing = self._live(record.tenant_id, existing_id, now_ms)
            if existing is not None:
                return existing, True
        if self._live(record.tenant_id, record.execution_id, now_ms) is not None:
            raise Conflict(f"execution id {record.execution_id} already exists")
        self._put(record)
        return record, False

    async def get(self, tenant_id: str, execution_id: str, now_ms: int) -> ExecutionRecord | None:
        return self._live(tenant_id, execution_id, now_ms)

    async def compare_and_set(
        self, record: ExecutionRecord, expected_version: int
    ) -> ExecutionRecord | None:
        stored = self._records.get((record.tenant_id, record.execution_id))
        if stored is None or stored.version != expected_version:
            return None
        self._put(record)
        return record

    async def claim_lease(
        self, tenant_id: str, execution_id: str, owner: str, now_ms: int, lease_ms: int
    ) -> ExecutionRecord | None:
        record = claimed(self._records.get((tenant_id, execution_id)), owner, now_ms, lease_ms)
        if record is not None:
            self._put(record)
        return record

    async def renew_lease(
        self,
        tenant_id: str,
        execution_id: str,
        owner: str,
        version: int,
        now_ms: int,
        lease_ms: int,
    ) -> ExecutionRecord | None:
        stored = self._records.get((tenant_id, execution_id))
        record = renewed(stored, owner, version, now_ms, lease_ms)
        if record is not None:
            self._put(record)
        return record

    async def find_due(self, now_ms: int, limit: int) -> list[ExecutionRecord]:
        found: list[ExecutionRecord] = []
        keep: list[tuple[int, str, str, int]] = []
        while self._due and len(found) < limit and self._due[0][0] <= now_ms:
            entry = heapq.heappop(self._due)
            key = (entry[1], entry[2])
            if self._stamps.get(key) != entry[3]:
                continue  # superseded
            record = self._records[key]
            if is_expired(record, now_ms):
                self._delete(key)
                continue
            found.append(record)
            keep.append(entry)
        for entry in keep:
            heapq.heappush(self._due, entry)
        return found

    async def find_dead_letters(self, limit: int) -> list[ExecutionRecord]:
        keys = itertools.islice(self._dead_letters, max(0, limit))
        return [self._records[key] for key in keys]

    async def clear_dead_letter(
        self, tenant_id: str, execution_id: str, transition_key: str
    ) -> bool:
        record = self._records.get((tenant_id, execution_id))
        cleared = None if record is None else without_dead_letter(record, transition_key)
        if cleared is None:
            return False
        self._put(cleared)
        return True

    async def count_by_status(self) -> dict[str, int]:
        return {status: n for status, n in self._counts.items() if n > 0}


# --------------------------------------------------------------------------- awaits

_Entry = tuple[int, str, str]  # (deadline, tenant, interaction id)


class _DeadlineIndex:
    """Named lists of entries kept sorted by deadline, for pending/overdue queries."""

    def __init__(self) -> None:
        self._lists: dict[Hashable, list[_Entry]] = {}

    def add(self, name: Hashable, entry: _Entry) -> None:
        insort(self._lists.setdefault(name, []), entry)

    def remove(self, name: Hashable, entry: _Entry) -> None:
        entries = self._lists.get(name)
        if entries is None:
            return
        i = bisect_left(entries, entry)
        if i < len(entries) and entries[i] == entry:
            del entries[i]
        if not entries:
            del self._lists[name]

    def scan(self, name: Hashable) -> Iterator[_Entry]:
        return iter(self._lists.get(name, ()))


def _pending_index_names(i: AwaitInteraction) -> list[Hashable]:
    names: list[Hashable] = ["overdue", ("tenant", i.tenant_id)]
    if i.assignee is not None:
        names.append(("assignee", i.tenant_id, i.assignee))
    if i.group is not None:
        names.append(("group", i.tenant_id, i.group))
    names.append(("step", i.tenant_id, i.step_id))
    return names


class MemoryAwaitStore:
    """Interactions in a dict; pending ones also in deadline-sorted lists per filter value."""

    def __init__(self) -> None:
        self._items: dict[_Key, AwaitInteraction] = {}
        self._by_correlation: dict[_Key, str] = {}
        self._pending = _DeadlineIndex()
        self._unapplied: dict[_Key, None] = {}

    def _put(self, new: AwaitInteraction) -> None:
        key = (new.tenant_id, new.interaction_id)
        old = self._items.get(key)
        if old is not None and old.pending:
            entry = (old.deadline_epoch_ms, old.tenant_id, old.interaction_id)
            for name in _pending_index_names(old):
                self._pending.remove(name, entry)
        if new.pending:
            entry = (new.deadline_epoch_ms, new.tenant_id, new.interaction_id)
            for name in _pending_index_names(new):
                self._pending.add(name, entry)
        if is_unapplied(new):
            self._unapplied[key] = None
        else:
            self._unapplied.pop(key, None)
        self._items[key] = new
        self._by_correlation[(new.tenant_id, new.correlation_id)] = new.interaction_id

    async def create_or_get(self, interaction: AwaitInteraction) -> tuple[AwaitInteraction, bool]:
        existing = self._items.get((interaction.tenant_id, interaction.interaction_id))
        if existing is not None:
            return existing, False
        if (interaction.tenant_id, interaction.correlation_id) in self._by_correlation:
            raise Conflict(f"correlation id {interaction.correlation_id} is already in use")
        self._put(interaction)
        return interaction, True

    async def get(self, tenant_id: str, interaction_id: str) -> AwaitInteraction | None:
        return self._items.get((tenant_id, interaction_id))

    async def get_by_correlation(
        self, tenant_id: str, correlation_id: str
    ) -> AwaitInteraction | None:
        interaction_id = self._by_correlation.get((tenant_id, correlation_id))
        return None if interaction_id is None else self._items.get((tenant_id, interaction_id))

    async def compare_and_set(
        self, interaction: AwaitInteraction, expected_version: int
    ) -> AwaitInteraction | None:
        stored = self._items.get((interaction.tenant_id, interaction.interaction_id))
        if stored is None or stored.version != expected_version:
            return None
        if stored.correlation_id != interaction.correlation_id:
            taken = self._by_correlation.get((interaction.tenant_id, interaction.correlation_id))
            if taken is not None:
                raise Conflict(f"correlation id {interaction.correlation_id} is already in use")
            del self._by_correlation[(stored.tenant_id, stored.correlation_id)]
        self._put(interaction)
        return interaction

    async def query_pending(
        self,
        tenant_id: str,
        *,
        assignee: str | None = None,
        group: str | None = None,
        step_id: str | None = None,
        limit: int = 100,
    ) -> list[AwaitInteraction]:
        # Walk the most selective index (assignee > group > step > tenant, as the original's
        # GSI choice) and filter the rest.
        name: Hashable
        if assignee is not None:
            name = ("assignee", tenant_id, assignee)
        elif group is not None:
            name = ("group", tenant_id, group)
        elif step_id is not None:
            name = ("step", tenant_id, step_id)
        else:
            name = ("tenant", tenant_id)
        found: list[AwaitInteraction] = []
        for _, tenant, interaction_id in self._pending.scan(name):
            if len(found) >= limit:
                break
            i = self._items[(tenant, interaction_id)]
            if (
                (group is None or i.group == group)
                and (step_id is None or i.step_id == step_id)
                and (assignee is None or i.assignee == assignee)
            ):
                found.append(i)
        return found

    async def find_overdue(self, now_ms: int, limit: int) -> list[AwaitInteraction]:
        found: list[AwaitInteraction] = []
        for deadline, tenant, interaction_id in self._pending.scan("overdue"):
            if deadline > now_ms or len(found) >= limit:
                break
            found.append(self._items[(tenant, interaction_id)])
        return found

    async def find_unapplied(self, limit: int) -> list[AwaitInteraction]:
        return [self._items[key] for key in itertools.islice(self._unapplied, max(0, limit))]


# --------------------------------------------------------------------------- releases


class MemoryReleaseStore:
    """Immutable releases plus append-only activations; status is derived on every read.

    The synchronous ``_register``/``_activate`` cores are reused by the file registry, which only
    adds persistence around them.
    """

    def __init__(self) -> None:
        self._releases: dict[_Key, dict[str, ReleaseRecord]] = {}
        self._activations: list[ReleaseActivation] = []
        self._latest: dict[_Key, ReleaseActivation] = {}
        self._last_activated: dict[tuple[str, str, str], int] = {}

    def _derive(self, record: ReleaseRecord) -> ReleaseRecord:
        pipeline = (record.tenant_id, record.pipeline_id)
        latest = self._latest.get(pipeline)
        activated = self._last_activated.get((*pipeline, record.release_version), 0)
        active = latest is not None and latest.release_version == record.release_version
        return replace(
            record,
            status=ReleaseStatus.ACTIVE if active else ReleaseStatus.REGISTERED,
            activated_at_epoch_ms=activated,
            updated_at_epoch_ms=max(record.updated_at_epoch_ms, activated),
        )

    def _register(self, record: ReleaseRecord) -> tuple[ReleaseRecord, bool]:
        """``(stored, created)``; raises Conflict for different metadata under one version."""
        versions = self._releases.setdefault((record.tenant_id, record.pipeline_id), {})
        existing = versions.get(record.release_version)
        if existing is not None:
            conflict = release_conflict(existing, record)
            if conflict is not None:
                raise conflict
            return existing, False
        stored = replace(record, status=ReleaseStatus.REGISTERED, activated_at_epoch_ms=0)
        versions[record.release_version] = stored
        return stored, True

    def _unregister(self, record: ReleaseRecord) -> None:
        del self._releases[(record.tenant_id, record.pipeline_id)][record.release_version]

    def _apply_activation(self, event: ReleaseActivation) -> None:
        self._activations.append(event)
        self._latest[(event.tenant_id, event.pipeline_id)] = event
        key = (event.tenant_id, event.pipeline_id, event.release_version)
        self._last_activated[key] = event.at_epoch_ms

    def _rebuild_activation_indexes(self) -> None:
        events, self._activations = self._activations, []
        self._latest.clear()
        self._last_activated.clear()
        for event in events:
            self._apply_activation(event)

    def _activation_for(
        self, tenant_id: str, pipeline_id: str, release_version: str, now_ms: int
    ) -> ReleaseActivation:
        if release_version not in self._releases.get((tenant_id, pipeline_id), {}):
            raise NotFound(f"release {release_version} of pipeline {pipeline_id} is not registered")
        return ReleaseActivation(tenant_id, pipeline_id, release_version, now_ms)

    async def register(self, record: ReleaseRecord) -> ReleaseRecord:
        return self._derive(self._register(record)[0])

    async def get(
        self, tenant_id: str, pipeline_id: str, release_version: str
    ) -> ReleaseRecord | None:
        record = self._releases.get((tenant_id, pipeline_id), {}).get(release_version)
        return None if record is None else self._derive(record)

    async def tenant_releases(self, pipeline_id: str, release_version: str) -> list[ReleaseRecord]:
        """Release ``release_version`` of ``pipeline_id`` of every tenant that registered it
        (:class:`tpf.stores.base.ReleaseCatalog`), ordered by tenant."""
        found = [
            versions[release_version]
            for (_, pipeline), versions in self._releases.items()
            if pipeline == pipeline_id and release_version in versions
        ]
        return [self._derive(r) for r in sorted(found, key=lambda r: r.tenant_id)]

    async def list(self, tenant_id: str, pipeline_id: str) -> list[ReleaseRecord]:
        records = self._releases.get((tenant_id, pipeline_id), {}).values()
        # sorted() is stable: equal timestamps keep registration order.
        return [self._derive(r) for r in sorted(records, key=lambda r: r.created_at_epoch_ms)]

    async def activate(
        self, tenant_id: str, pipeline_id: str, release_version: str, now_ms: int
    ) -> ReleaseRecord:
        event = self._activation_for(tenant_id, pipeline_id, release_version, now_ms)
        self._apply_activation(event)
        return self._derive(self._releases[(tenant_id, pipeline_id)][release_version])

    async def active(self, tenant_id: str, pipeline_id: str) -> ReleaseRecord | None:
        latest = self._latest.get((tenant_id, pipeline_id))
        if latest is None:
            return None
        return await self.get(tenant_id, pipeline_id, latest.release_version)


# --------------------------------------------------------------------------- workers


class MemoryWorkerStore:
    """Folded worker records (the memory provider keeps no event history)."""

    def __init__(self) -> None:
        self._workers: dict[_Key, dict[str, WorkerRecord]] = {}

    async def append(self, event: WorkerEvent) -> WorkerRecord | None:
        workers = self._workers.setdefault((event.tenant_id, event.pipeline_id), {})
        record = fold_worker_event(workers.get(event.worker_id), event)
        if record is not None:
            workers[event.worker_id] = record
        return record

    async def get(self, tenant_id: str, pipeline_id: str, worker_id: str) -> WorkerRecord | None:
        return self._workers.get((tenant_id, pipeline_id), {}).get(worker_id)

    async def list(self, tenant_id: str, pipeline_id: str) -> list[WorkerRecord]:
        workers = self._workers.get((tenant_id, pipeline_id), {})
        return [workers[w] for w in sorted(workers)]
