"""The registered workers of one identity, as one transition worker that fails over between them.

Several worker processes may host one release (replicas, or a replacement started while the
old one is dying). The directory caches one worker per identity, so a client fixed to the first
record's endpoint would send every retry of a transition to a worker that was SIGKILLed, until
the execution ran out of retries. A :class:`WorkerPool` instead holds one client per registered
endpoint of its protocol and, for each transition, picks by the records as they are now:

1. not *suspect*: a client whose last call ended in a transport failure (refused, dropped,
   timed out, a draining worker's 503) is avoided for ``suspect_ms``, so the engine's retry of
   that transition goes to another worker; a success clears it;
2. not draining, then not stale (``stale_after_ms``; ``<= 0``: never stale);
3. round robin among the equals, so replicas share the work.

A suspect or draining worker is still used when nothing better exists: a drained worker keeps
running the executions pinned to its release (the upgrade runbook), and a worker that only
failed once may be back. The records of a tenant are read at most every ``refresh_ms`` and at
once after a failure, so a worker registered meanwhile is found by the next attempt. A command
of a tenant none of whose records name the identity goes to the clients known from other
tenants (the directory's cache is per identity, as before).

Only the choice of client happens here; a transition is never re-sent within one attempt (the
worker may have run part of it), the engine's retry does that, fenced by the record's version.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from tpf.core.clock import Clock
from tpf.core.records import ReleaseRecord, TransitionCommand, TransitionResult, WorkerRecord
from tpf.stores.base import WorkerStore
from tpf.transports.base import ContractValidator, TransitionWorker
from tpf.transports.workers.remote.client import TRANSPORT_FAILURE_CLASS, RemoteWorker

__all__ = ["DEFAULT_SUSPECT_MS", "WorkerPool", "is_transport_failure"]

LOG = logging.getLogger("tpf.workers.pool")
Identity = tuple[str, str, str]
MemberBuilder = Callable[[WorkerRecord], Awaitable[TransitionWorker | None]]
DEFAULT_REFRESH_MS = 1_000
DEFAULT_SUSPECT_MS = 30_000  # about a lease: the retry after a kill lands elsewhere


def is_transport_failure(result: TransitionResult) -> bool:
    """Whether ``result`` says the worker was not reached properly (not a step's failure, and
    not a call the coordinator itself gave up on)."""
    failure = result.failure
    return (
        failure is not None
        and failure.failure_class == TRANSPORT_FAILURE_CLASS
        and failure.error_code != "TRANSITION_WORKER_CANCELLED"
    )


def _key(record: WorkerRecord) -> str:
    # Records without an endpoint all reach the configured target: one client for them.
    return record.endpoint.strip()


@dataclass
class _Member:
    key: str
    client: TransitionWorker
    suspect_until_ms: int = 0
    # The id of the record the client was built from (records sharing an endpoint share the
    # client): what an execution's history names as the worker that ran a transition.
    worker_id: str | None = None


class WorkerPool:
    def __init__(
        self,
        identity: Identity,
        protocol: str,
        first: tuple[WorkerRecord, TransitionWorker],
        *,
        records: WorkerStore,
        build: MemberBuilder,
        clock: Clock,
        stale_after_ms: int = 0,
        refresh_ms: int = DEFAULT_REFRESH_MS,
        suspect_ms: int = DEFAULT_SUSPECT_MS,
    ) -> None:
        self.protocol = protocol
        self._identity = identity
        self._records = records
        self._build = build
        self._clock = clock
        self._stale_after_ms = stale_after_ms
        self._refresh_ms = refresh_ms
        self._suspect_ms = suspect_ms
        record, client = first
        self._validator = client.validator
        self._members: dict[str, _Member] = {
            _key(record): _Member(_key(record), client, worker_id=record.worker_id)
        }
        # Which worker each transition in flight was sent to (transition key -> worker id).
        self._ran_by: dict[str, str] = {}
        self._unreachable: set[str] = set()  # endpoints whose record gives no client
        self._seen: dict[str, tuple[int, list[WorkerRecord]]] = {}  # tenant -> (until, records)
        # The one read of a tenant's records in flight: the transitions that find the cache
        # expired together (a stream's window dispatching) share it instead of each querying.
        self._reading: dict[str, asyncio.Future[list[WorkerRecord]]] = {}
        self._lock = asyncio.Lock()
        self._turn = itertools.count()

    @property
    def identity(self) -> Identity:
        return self._identity

    @property
    def code_digest(self) -> str | None:
        return None  # remote code is known by its capability's artifact

    @property
    def validator(self) -> ContractValidator:
        return self._validator

    @property
    def members(self) -> list[TransitionWorker]:
        """The clients built so far, in the order their records were found."""
        return [m.client for m in self._members.values()]

    async def start(self) -> None:
        for member in list(self._members.values()):
            await member.client.start()

    async def aclose(self) -> None:
        members, self._members = list(self._members.values()), {}
        for member in reversed(members):
            try:
                await member.client.aclose()
            except Exception:
                LOG.exception("closing the worker client of %s failed", member.key or "target")

    async def cancel(self, tenant_id: str, execution_id: str) -> None:
        for member in list(self._members.values()):
            await member.client.cancel(tenant_id, execution_id)

    async def execute(self, command: TransitionCommand) -> TransitionResult:
        member = (await self._ranked(command.tenant_id))[0]
        if member.worker_id is not None:
            if len(self._ran_by) > 10_000:  # runs nobody asked about (a lost lease): forget
                self._ran_by.clear()
            self._ran_by[command.transition_key] = member.worker_id
        result = await member.client.execute(command)
        if is_transport_failure(result):
            member.suspect_until_ms = self._clock.now_ms() + self._suspect_ms
            self._seen.pop(command.tenant_id, None)  # look for other workers before the retry
            LOG.info("worker %s failed a call: others are preferred for a while", member.key)
        else:
            member.suspect_until_ms = 0
        return result

    def ran_by(self, transition_key: str) -> str | None:
        """The id of the worker the transition ``transition_key`` was sent to (asked once)."""
        return self._ran_by.pop(transition_key, None)

    async def availability(self, release: ReleaseRecord) -> str | None:
        """Why no worker of the pool can run ``release`` (the best one's reason); ``None`` as
        soon as one can."""
        reasons: list[str] = []
        for member in await self._ranked(release.tenant_id):
            client = member.client
            if not isinstance(client, RemoteWorker):
                return None  # a client without a capability call: admission's record check rules
            reason = await client.availability(release)
            if reason is None:
                return None
            reasons.append(reason)
        return reasons[0]

    # ------------------------------------------------------------------ internals

    async def _ranked(self, tenant_id: str) -> list[_Member]:
        """Every usable member, best first (see the module docstring)."""
        records = await self._tenant_records(tenant_id)
        now = self._clock.now_ms()
        by_key: dict[str, WorkerRecord] = {}
        for record in records:  # the freshest record of an endpoint describes it
            known = by_key.get(_key(record))
            if known is None or _rank(record, now, self._stale_after_ms) < _rank(
                known, now, self._stale_after_ms
            ):
                by_key[_key(record)] = record
        members = [self._members[k] for k in by_key if k in self._members] or list(
            self._members.values()
        )

        def rank(member: _Member) -> tuple[bool, int]:
            record = by_key.get(member.key)
            lifecycle = 0 if record is None else _rank(record, now, self._stale_after_ms)
            return (member.suspect_until_ms > now, lifecycle)

        best = min(rank(m) for m in members)
        equal = [m for m in members if rank(m) == best]
        rest = sorted((m for m in members if rank(m) != best), key=rank)
        turn = next(self._turn) % len(equal)
        return equal[turn:] + equal[:turn] + rest

    async def _tenant_records(self, tenant_id: str) -> list[WorkerRecord]:
        seen = self._seen.get(tenant_id)
        if seen is not None and seen[0] > self._clock.now_ms():
            return seen[1]
        reading = self._reading.get(tenant_id)
        if reading is None:
            reading = asyncio.ensure_future(self._read_records(tenant_id))
            self._reading[tenant_id] = reading
            reading.add_done_callback(lambda _: self._reading.pop(tenant_id, None))
        # Shielded: a caller cancelled while waiting does not cancel the others' read.
        return await asyncio.shield(reading)

    async def _read_records(self, tenant_id: str) -> list[WorkerRecord]:
        now = self._clock.now_ms()
        seen = self._seen.get(tenant_id)
        pipeline_id, contract_version, release_version = self._identity
        try:
            listed = await self._records.list(tenant_id, pipeline_id)
        except Exception as exc:  # the known clients still work: keep using them
            LOG.warning("cannot read the worker records of %s: %s", tenant_id, exc)
            return [] if seen is None else seen[1]
        records = [
            r
            for r in listed
            if (r.contract_version, r.release_version) == (contract_version, release_version)
            and r.protocol.lower() == self.protocol
        ]
        await self._add_members(records)
        self._seen[tenant_id] = (now + self._refresh_ms, records)
        return records

    async def _add_members(self, records: list[WorkerRecord]) -> None:
        new = [
            r for r in records if _key(r) not in self._members and _key(r) not in self._unreachable
        ]
        if not new:
            return
        async with self._lock:
            for record in new:
                key = _key(record)
                if key in self._members or key in self._unreachable:
                    continue
                try:
                    client = await self._build(record)
                    if client is not None:
                        await client.start()
                except Exception as exc:
                    LOG.warning("cannot build a worker client for %s: %s", record.worker_id, exc)
                    continue
                if client is None:
                    self._unreachable.add(key)
                    continue
                self._members[key] = _Member(key, client, worker_id=record.worker_id)
                LOG.info(
                    "worker client %s for %s from record %s",
                    self.protocol,
                    self._identity,
                    record.worker_id,
                )


def _rank(record: WorkerRecord, now_ms: int, stale_after_ms: int) -> int:
    """0 healthy, 1 stale, 2 draining (the order a new transition prefers)."""
    if record.draining_since_epoch_ms > 0:
        return 2
    if stale_after_ms > 0 and now_ms - record.last_heartbeat_at_epoch_ms > stale_after_ms:
        return 1
    return 0
