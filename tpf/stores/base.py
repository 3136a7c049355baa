"""Store Protocols: one per backend kind, shared by every implementation.

The state machine lives in :mod:`tpf.core.lifecycle` as pure functions that turn a record into its
next version; stores only persist records with compare-and-set on ``version`` and keep the
indexes the supervisors need (due executions, pending dead letters, overdue and unapplied
interactions). Every index query is bounded by a ``limit`` and never a full scan.

Conventions every implementation honours (the contract suite in ``tests/stores`` checks them):

- records are immutable msgspec Structs; a store never hands out an object a caller could
  mutate into the store's state;
- a conditional write that loses returns ``None`` (or raises :class:`tpf.errors.ConditionFailed`
  where the docstring says so); it never partially applies;
- a *terminal* execution whose ``ttl_epoch_s`` has passed (``ttl_epoch_s * 1000 <= now_ms``)
  reads as absent and its execution key may be reused; a live one never expires, whatever TTL it
  carries (records written by older versions have a submit-time TTL), and nothing a live
  execution needs (its key row, its chunked payloads) is left with a TTL that could delete it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from tpf.core.records import (
    AwaitInteraction,
    ExecutionRecord,
    HeldCompletion,
    ReleaseRecord,
    WorkerEvent,
    WorkerRecord,
)
from tpf.core.search import ExecutionPage, ExecutionQuery, InteractionPage
from tpf.stores.budget.base import AdmissionBudget
from tpf.stores.health import StoreHealth
from tpf.stores.item_store import ItemStore as ItemStore
from tpf.stores.joint_writes import AwaitCommits as AwaitCommits


class ExecutionStore(Protocol):
    async def create_or_get(
        self, record: ExecutionRecord, now_ms: int
    ) -> tuple[ExecutionRecord, bool]:
        """Insert ``record`` unless ``(tenant_id, execution_key)`` already names a live execution.

        Returns ``(stored, duplicate)``: the new record and ``False``, or the existing live record
        and ``True``. An expired execution's key is free again.
        """
        ...

    async def get(self, tenant_id: str, execution_id: str, now_ms: int) -> ExecutionRecord | None:
        """The live record, or ``None`` if unknown, of another tenant, or expired."""
        ...

    async def compare_and_set(
        self, record: ExecutionRecord, expected_version: int
    ) -> ExecutionRecord | None:
        """Replace the stored record with ``record`` iff the stored version is ``expected_version``.

        ``record.version`` is written as given (callers bump it). Returns ``record`` on success,
        ``None`` if the stored version differs or the record does not exist.
        """
        ...

    async def claim_lease(
        self, tenant_id: str, execution_id: str, owner: str, now_ms: int, lease_ms: int
    ) -> ExecutionRecord | None:
        """Claim the execution for ``owner`` if it is claimable now.

        Claimable: live, status in ``CLAIMABLE_STATUSES`` and ``next_due_epoch_ms <= now_ms``.
        (A RUNNING record's ``next_due_epoch_ms`` is its lease expiry, so an expired lease is
        claimable and a live one is not.) On success the record becomes RUNNING with
        ``lease_owner=owner``, ``lease_expires_epoch_ms = next_due_epoch_ms = now_ms + lease_ms``,
        ``version + 1``, ``updated_at_epoch_ms = now_ms``; returns it. Otherwise ``None``.
        ``lease_ms <= 0`` raises ``ValueError``.
        """
        ...

    async def renew_lease(
        self,
        tenant_id: str,
        execution_id: str,
        owner: str,
        version: int,
        now_ms: int,
        lease_ms: int,
    ) -> ExecutionRecord | None:
        """Extend a held lease without bumping ``version``.

        Succeeds iff the record is RUNNING, ``lease_owner == owner`` and ``version`` matches (a
        re-claim bumps the version, so a stale holder cannot renew). Sets
        ``lease_expires_epoch_ms = next_due_epoch_ms = now_ms + lease_ms``. Returns the record or
        ``None``.
        """
        ...

    async def find_due(self, now_ms: int, limit: int) -> list[ExecutionRecord]:
        """Live records with status in ``CLAIMABLE_STATUSES`` and ``next_due <= now_ms``.

        Ordered by ``next_due_epoch_ms`` then tenant then id; at most ``limit``. Uses an index.
        """
        ...

    async def find_dead_letters(self, limit: int) -> list[ExecutionRecord]:
        """Records with unpublished envelopes in ``dead_letters``, at most ``limit``."""
        ...

    async def clear_dead_letter(
        self, tenant_id: str, execution_id: str, transition_key: str
    ) -> bool:
        """Remove the unpublished envelope of ``transition_key`` from ``dead_letters``.

        Returns ``False`` if there is none (already published, or another execution state).

        Publication bookkeeping, not a state change: ``version`` is not bumped.
        """
        ...

    async def count_by_status(self) -> dict[str, int]:
        """Number of stored executions per status (for metrics and tests): terminal ones count
        until they are deleted, which happens lazily after their retention. Every store answers
        in O(statuses) from counts kept with every write (DynamoDB: counter items), never by
        scanning the executions."""
        ...

    async def search(
        self, query: ExecutionQuery, limit: int, cursor: str | None, now_ms: int
    ) -> ExecutionPage:
        """The tenant's live executions matching ``query``, newest first (see
        :mod:`tpf.core.search`): at most ``limit`` after the page ``cursor`` ended, with the
        next page's cursor when more may follow. One index range read per page (plus, on
        DynamoDB, one per shard); filters the index does not key on are applied to what it
        reads, continuing until ``limit`` items matched or the range is exhausted. A bad cursor
        raises :class:`tpf.errors.ValidationError` naming ``cursor``."""
        ...


class AwaitStore(Protocol):
    async def create_or_get(self, interaction: AwaitInteraction) -> tuple[AwaitInteraction, bool]:
        """Insert unless ``(tenant_id, interaction_id)`` exists. Returns ``(stored, created)``.

        ``correlation_id`` is unique per tenant too; inserting a different interaction with a
        taken correlation id raises :class:`tpf.errors.Conflict`.
        """
        ...

    async def get(self, tenant_id: str, interaction_id: str) -> AwaitInteraction | None: ...

    async def get_many(self, tenant_id: str, ids: list[str]) -> dict[str, AwaitInteraction]:
        """:meth:`get` of each of ``ids`` (absent when missing), in one batched read."""
        ...

    async def get_by_correlation(
        self, tenant_id: str, correlation_id: str
    ) -> AwaitInteraction | None: ...

    async def compare_and_set(
        self, interaction: AwaitInteraction, expected_version: int
    ) -> AwaitInteraction | None:
        """Replace iff the stored version is ``expected_version`` (caller bumps the version)."""
        ...

    async def query_pending(
        self,
        tenant_id: str,
        *,
        assignee: str | None = None,
        group: str | None = None,
        step_id: str | None = None,
        limit: int = 100,
    ) -> list[AwaitInteraction]:
        """Pending (``PENDING_INTERACTION_STATUSES``) interactions of the tenant matching every
        given filter exactly, ordered by ``deadline_epoch_ms`` then ``interaction_id``."""
        ...

    async def page_pending(
        self,
        tenant_id: str,
        *,
        assignee: str | None = None,
        group: str | None = None,
        step_id: str | None = None,
        execution_id: str | None = None,
        limit: int = 100,
        cursor: str | None = None,
    ) -> InteractionPage:
        """:meth:`query_pending` with an ``execution_id`` filter and keyset paging: the page
        after ``cursor`` (a :class:`tpf.core.search.PendingKey`), with the next cursor when
        more may follow. Uses an index for every filter."""
        ...

    async def list_for_execution(
        self, tenant_id: str, execution_id: str, limit: int = 200
    ) -> list[AwaitInteraction]:
        """Every interaction of the execution (any status), oldest first by
        ``created_at_epoch_ms`` then id, at most ``limit``. Uses an index."""
        ...

    async def find_overdue(self, now_ms: int, limit: int) -> list[AwaitInteraction]:
        """Pending interactions with ``deadline_epoch_ms <= now_ms``, earliest first."""
        ...

    async def find_unapplied(self, limit: int) -> list[AwaitInteraction]:
        """Resolved interactions (COMPLETED or TIMED_OUT...) whose ``applied`` is still false."""
        ...

    async def find_undispatched(self, limit: int) -> list[AwaitInteraction]:
        """The dispatch outbox: pending interactions in ``DispatchState.CREATED`` (stored, not yet
        published to their channel), at most ``limit``, ordered by tenant then id. Uses an
        index: interactions dispatched at creation (REST) never enter it."""
        ...

    async def mark_dispatched(
        self, tenant_id: str, interaction_id: str, now_ms: int, sent: AwaitInteraction | None = None
    ) -> AwaitInteraction | None:
        """Record that the interaction's request was published (``DISPATCHED``, version + 1).

        Idempotent: an interaction already dispatched is returned as stored. ``None`` if the
        interaction does not exist. A concurrent writer (a completion) is retried against.
        ``sent``: the caller's (published) copy, tried before a read; its version fences it.
        """
        ...


class HeldCompletionStore(Protocol):
    """Channel completions that arrived before their interaction was stored (durable holds).

    A channel acknowledges its message (deletes it, commits the offset) only after
    :meth:`hold` returned, so a completion survives a coordinator restart in between; the
    awaits supervisor lists the holds, admits each whose interaction has appeared, and
    releases it (or drops it once expired).
    """

    async def hold(self, held: HeldCompletion) -> bool:
        """Store ``held`` unless ``(tenant_id, handle_kind, handle)`` is held already (the first
        hold wins, as the first completion does at admission). ``True`` if stored."""
        ...

    async def list(self, limit: int) -> list[HeldCompletion]:
        """At most ``limit`` holds, ordered by :func:`tpf.stores.rules.hold_key`."""
        ...

    async def release(self, tenant_id: str, handle_kind: str, handle: str) -> None:
        """Delete the hold (idempotent)."""
        ...


class ReleaseStore(Protocol):
    async def register(self, record: ReleaseRecord) -> ReleaseRecord:
        """Store an immutable release. Re-registering identical immutable metadata returns the
        stored record; a different one under the same ``release_version`` raises
        :class:`tpf.errors.Conflict`."""
        ...

    async def get(
        self, tenant_id: str, pipeline_id: str, release_version: str
    ) -> ReleaseRecord | None:
        """The record with ``status``/``activated_at_epoch_ms`` derived from activations."""
        ...

    async def list(self, tenant_id: str, pipeline_id: str) -> list[ReleaseRecord]:
        """All releases of the pipeline, ordered by ``created_at_epoch_ms``."""
        ...

    async def activate(
        self, tenant_id: str, pipeline_id: str, release_version: str, now_ms: int
    ) -> ReleaseRecord:
        """Append an activation event; returns the record as ACTIVE. Unknown → ``NotFound``."""
        ...

    async def active(self, tenant_id: str, pipeline_id: str) -> ReleaseRecord | None:
        """The release named by the latest activation event, or ``None``."""
        ...


@runtime_checkable
class ReleaseCatalog(Protocol):
    """A release registry that can answer across tenants without scanning a shared table.

    The memory and file registries hold their whole content in memory, so they offer it; the
    DynamoDB registry is partitioned by ``(tenant, pipeline)`` and does not (a coordinator then
    learns tenants from the releases and submissions it sees:
    :mod:`tpf.supervisors.hosted_workers`).
    """

    async def tenant_releases(self, pipeline_id: str, release_version: str) -> list[ReleaseRecord]:
        """Release ``release_version`` of ``pipeline_id`` of every tenant that registered it."""
        ...


class WorkerStore(Protocol):
    async def append(self, event: WorkerEvent) -> WorkerRecord | None:
        """Append a lifecycle event and return the folded record.

        HEARTBEAT and DRAIN for an unknown worker return ``None`` and store nothing. REGISTER
        (re)sets identity and clears a drain. ``state`` in the returned record is HEALTHY or
        DRAINING; staleness is derived by the caller (:func:`tpf.workers.effective_state`).
        """
        ...

    async def get(
        self, tenant_id: str, pipeline_id: str, worker_id: str
    ) -> WorkerRecord | None: ...

    async def list(self, tenant_id: str, pipeline_id: str) -> list[WorkerRecord]:
        """Folded records of the pipeline's workers, ordered by ``worker_id``."""
        ...


class ArtifactStore(Protocol):
    async def put_file(self, path: str, digest: str) -> tuple[str, int]:
        """Copy a local file into the store under its ``sha256:<hex>`` digest.

        Verifies the digest while copying (mismatch → :class:`tpf.errors.ValidationError`);
        idempotent. Returns ``(stored_uri, size_bytes)``.
        """
        ...

    async def verify(self, uri: str, digest: str, size_bytes: int) -> None:
        """Raise :class:`tpf.errors.Conflict` unless the stored artifact exists and matches."""
        ...

    async def open_bytes(self, uri: str) -> bytes:
        """The stored artifact's content."""
        ...


class NonceGuard(Protocol):
    """Signed worker requests' nonces, each accepted once (:mod:`tpf.stores.nonces`; the
    transports' :mod:`~tpf.transports.workers.remote.nonces` re-exports this)."""

    async def claim(self, nonce: str, expires_at_ms: int) -> bool:
        """Record ``nonce`` until ``expires_at_ms`` (its timestamp plus the tolerance: after
        that the timestamp check refuses it anyway); ``False`` if it was already recorded."""
        ...

    async def aclose(self) -> None: ...


@dataclass
class StoreSet:
    """The stores one coordinator runs on, and how to close them."""

    executions: ExecutionStore
    awaits: AwaitStore
    releases: ReleaseStore
    workers: WorkerStore
    artifacts: ArtifactStore
    # Follows the state provider: a hold is as durable as the interactions it waits for.
    held: HeldCompletionStore
    # An expanded execution's items (issue 13); follows the state provider like ``held``.
    items: ItemStore
    closers: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    # ``(keep_owner, now_ms) -> count``: make every lease held by another owner expire now.
    # Set only when this process holds the execution store's directory locked
    # (:mod:`tpf.stores.state_lock`), which proves every other lease holder is dead.
    expire_leases: Callable[[str, int], Awaitable[int]] | None = None
    # The health of each durable state store in use (SQLite, DynamoDB), for readiness; the
    # memory stores cannot fail and have none.
    health: list[StoreHealth] = field(default_factory=list)
    # The await admission budget (tpf.stores.budget, spec §4.9) stream items take slots of;
    # ``None`` where only each execution's window bounds them (a store set built by hand).
    budget: AdmissionBudget | None = None
    # Execution (or item) + interaction writes as one, where the backend can (AwaitCommits).
    await_commits: AwaitCommits | None = None

    async def close(self) -> None:
        for close in reversed(self.closers):
            await close()
