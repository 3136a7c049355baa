"""The worker pool of one identity: which registered worker gets a transition, in isolation.

Fake clients stand in for the remote ones (the real transports are tested with the worker
process in tests/worker/); records are in a memory worker store, time on a fake clock.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tpf.core.clock import FakeClock
from tpf.core.records import (
    TransitionCommand,
    TransitionOutcome,
    TransitionResult,
    WorkerEvent,
    WorkerEventType,
    WorkerRecord,
)
from tpf.stores.memory import MemoryWorkerStore
from tpf.transports.workers.directory import WorkerDirectory
from tpf.transports.workers.pool import WorkerPool, is_transport_failure
from tpf.transports.workers.remote.client import transport_failure
from tpf.transports.workers.validators import UNCHECKED

TENANT = "t1"
IDENTITY = ("p", "sha256:c", "r1")


@dataclass
class FakeClient:
    endpoint: str
    protocol: str = "fake"
    code_digest: None = None
    identity: tuple[str, str, str] = IDENTITY
    calls: list[str] = field(default_factory=list)
    cancelled: list[str] = field(default_factory=list)
    failing: str | None = None  # the transport failure category of every call while set
    started: bool = False
    closed: bool = False

    @property
    def validator(self) -> object:
        return UNCHECKED

    async def execute(self, command: TransitionCommand) -> TransitionResult:
        self.calls.append(command.execution_id)
        if self.failing is not None:
            return transport_failure("rest", self.failing, "connection refused")
        return TransitionResult(outcome=TransitionOutcome.COMPLETED)

    async def cancel(self, tenant_id: str, execution_id: str) -> None:
        self.cancelled.append(execution_id)

    async def start(self) -> None:
        self.started = True

    async def aclose(self) -> None:
        self.closed = True


class Workers:
    """Registered records and the fake client built for each endpoint."""

    def __init__(self, clock: FakeClock) -> None:
        self.store = MemoryWorkerStore()
        self.clock = clock
        self.clients: dict[str, FakeClient] = {}

    async def register(self, worker_id: str, endpoint: str) -> WorkerRecord:
        record = await self.store.append(
            WorkerEvent(
                tenant_id=TENANT,
                pipeline_id=IDENTITY[0],
                worker_id=worker_id,
                event_type=WorkerEventType.REGISTER,
                contract_version=IDENTITY[1],
                release_version=IDENTITY[2],
                protocol="fake",
                endpoint=endpoint,
                at_epoch_ms=self.clock.now_ms(),
            )
        )
        assert record is not None
        return record

    async def event(self, worker_id: str, kind: WorkerEventType) -> None:
        await self.store.append(
            WorkerEvent(
                tenant_id=TENANT,
                pipeline_id=IDENTITY[0],
                worker_id=worker_id,
                event_type=kind,
                at_epoch_ms=self.clock.now_ms(),
            )
        )

    async def factory(
        self, identity: object, record: WorkerRecord, contract: object
    ) -> FakeClient | None:
        if not record.endpoint:
            return None
        client = self.clients[record.endpoint] = FakeClient(record.endpoint)
        return client

    def directory(self, **kwargs: int) -> WorkerDirectory:
        return WorkerDirectory(
            self.store,
            lambda name: self.factory if name == "fake" else None,  # type: ignore[return-value]
            clock=self.clock,
            **kwargs,
        )


def command(execution_id: str) -> TransitionCommand:
    pid, cv, rv = IDENTITY
    return TransitionCommand(
        tenant_id=TENANT,
        execution_id=execution_id,
        pipeline_id=pid,
        contract_version=cv,
        release_version=rv,
        current_step_index=0,
        transition_key=f"{execution_id}:0:0",
        trace_id=f"{execution_id}:0:0",
    )


async def pool_of(workers: Workers, **kwargs: int) -> WorkerPool:
    pool = await workers.directory(**kwargs).resolve(TENANT, IDENTITY)
    assert isinstance(pool, WorkerPool)
    return pool


async def test_replicas_share_the_transitions() -> None:
    workers = Workers(FakeClock())
    await workers.register("a", "http://a:1")
    await workers.register("b", "http://b:1")
    pool = await pool_of(workers)
    for n in range(4):
        result = await pool.execute(command(f"e{n}"))
        assert result.outcome is TransitionOutcome.COMPLETED
    a, b = workers.clients["http://a:1"], workers.clients["http://b:1"]
    assert len(a.calls) == 2 and len(b.calls) == 2
    assert a.started and b.started  # the second was built and started on first use
    await pool.cancel(TENANT, "e1")
    assert a.cancelled == b.cancelled == ["e1"]  # whichever runs it stops waiting
    await pool.aclose()
    assert a.closed and b.closed


async def test_the_pool_says_which_worker_each_transition_went_to() -> None:
    workers = Workers(FakeClock())
    await workers.register("a", "http://a:1")
    await workers.register("b", "http://b:1")
    pool = await pool_of(workers)
    for n in range(2):
        await pool.execute(command(f"e{n}"))
    ids = {pool.ran_by(f"e{n}:0:0") for n in range(2)}
    assert ids == {"a", "b"}
    assert pool.ran_by("e0:0:0") is None  # asked once: the entry is gone


async def test_after_a_transport_failure_the_retry_goes_to_a_worker_registered_meanwhile() -> None:
    clock = FakeClock()
    workers = Workers(clock)
    await workers.register("a", "http://a:1")
    pool = await pool_of(workers)
    a = workers.clients["http://a:1"]
    assert (await pool.execute(command("e1"))).outcome is TransitionOutcome.COMPLETED
    await workers.register("b", "http://b:1")  # within the records' refresh interval
    a.failing = "unavailable"  # a was killed
    failed = await pool.execute(command("e2"))
    assert is_transport_failure(failed)
    retried = await pool.execute(command("e2"))  # the engine's retry of that transition
    assert retried.outcome is TransitionOutcome.COMPLETED
    assert workers.clients["http://b:1"].calls == ["e2"]
    assert a.calls == ["e1", "e2"]
    # While a is suspect, every new transition goes to b...
    await pool.execute(command("e3"))
    assert workers.clients["http://b:1"].calls == ["e2", "e3"]
    # ...and once the suspicion has run out, a gets its share again (it may be back).
    a.failing = None
    clock.advance(30_001)
    for n in range(4, 8):
        await pool.execute(command(f"e{n}"))
    assert len(a.calls) == 4


async def test_a_cancelled_call_does_not_make_the_worker_suspect() -> None:
    workers = Workers(FakeClock())
    await workers.register("a", "http://a:1")
    await workers.register("b", "http://b:1")
    pool = await pool_of(workers)
    a = workers.clients["http://a:1"]
    a.failing = "cancelled"  # the coordinator gave up on the call (lost lease): not a's fault
    assert not is_transport_failure(await pool.execute(command("e1")))
    a.failing = None
    for n in range(2, 6):
        await pool.execute(command(f"e{n}"))
    assert len(a.calls) == 3  # e1 and its fair share of four


async def test_healthy_workers_are_preferred_to_draining_and_stale_ones() -> None:
    clock = FakeClock()
    workers = Workers(clock)
    await workers.register("a", "http://a:1")
    await workers.register("b", "http://b:1")
    await workers.register("c", "http://c:1")
    await workers.event("a", WorkerEventType.DRAIN)
    clock.advance(10_001)
    await workers.event("c", WorkerEventType.HEARTBEAT)  # b has not heartbeated: stale
    pool = await pool_of(workers, stale_after_ms=10_000)
    for n in range(3):
        await pool.execute(command(f"e{n}"))
    assert workers.clients["http://c:1"].calls == ["e0", "e1", "e2"]
    # With only a draining and a stale one left, the stale one is used before the draining.
    workers.clients["http://c:1"].failing = "unavailable"
    await pool.execute(command("e3"))
    await pool.execute(command("e4"))
    assert workers.clients["http://b:1"].calls == ["e4"]
    assert "http://a:1" not in workers.clients or workers.clients["http://a:1"].calls == []


async def test_a_drained_worker_still_runs_when_it_is_the_only_one() -> None:
    workers = Workers(FakeClock())
    await workers.register("a", "http://a:1")
    await workers.event("a", WorkerEventType.DRAIN)
    pool = await pool_of(workers)
    assert (await pool.execute(command("e1"))).outcome is TransitionOutcome.COMPLETED
    assert workers.clients["http://a:1"].calls == ["e1"]


async def test_a_record_without_a_client_is_skipped() -> None:
    workers = Workers(FakeClock())
    await workers.register("a", "http://a:1")
    pool = await pool_of(workers)
    await workers.register("label-only", "")  # its factory gives no client
    workers.clients["http://a:1"].failing = "timeout"
    await pool.execute(command("e1"))
    workers.clients["http://a:1"].failing = None
    assert (await pool.execute(command("e2"))).outcome is TransitionOutcome.COMPLETED
    assert workers.clients["http://a:1"].calls == ["e1", "e2"]  # the suspect one, for lack of any


async def test_transitions_that_find_the_records_expired_share_one_read() -> None:
    import asyncio

    clock = FakeClock()
    workers = Workers(clock)
    await workers.register("a", "http://a:1")
    pool = await pool_of(workers)
    await pool.execute(command("warm"))
    reads: list[str] = []
    started, release = asyncio.Event(), asyncio.Event()
    listed = workers.store.list

    async def slow_list(tenant_id: str, pipeline_id: str) -> list[WorkerRecord]:
        reads.append(tenant_id)
        started.set()
        await release.wait()  # every transition below arrives while this read is out
        return await listed(tenant_id, pipeline_id)

    workers.store.list = slow_list  # type: ignore[method-assign]
    clock.advance(3_600_000)  # the cached records are stale
    running = [asyncio.ensure_future(pool.execute(command(f"e{n}"))) for n in range(25)]
    # The first to run starts the read; the others, scheduled before this test wakes, have
    # reached the records by then (a read each before the records were shared).
    await asyncio.wait_for(started.wait(), 10)
    assert reads == [TENANT]
    # The caller whose call started the read is cancelled: the others still get the records.
    running[0].cancel()
    release.set()
    results = await asyncio.wait_for(asyncio.gather(*running[1:]), 10)
    assert all(r.outcome is TransitionOutcome.COMPLETED for r in results)
    assert reads == [TENANT]
    assert len(workers.clients["http://a:1"].calls) == 25  # warm + 24 run
