"""``TestEnv``: a coordinator for one pipeline, in process, on a fake clock that drives timers.

::

    async with TestEnv(pipeline, store="sqlite", tmp_path=tmp_path) as env:
        eid = await env.submit(order)
        await env.complete(eid, {"accepted": {...}})
        assert (await env.status(eid)).status is ExecutionStatus.SUCCEEDED

Nothing runs in the background: every command runs the coordinator until it is idle (every
actor done, every supervisor's pass finding nothing), and time moves only when the test says
``await env.advance("PT30M")``, which also runs every supervisor that became due (await
timeouts, retry backoff, sweeps). Crash points (:mod:`tpf.core.crash_points`) are exposed as
``env.crash_at(point)``: the coordinator dies there as a SIGKILL would (see
:mod:`tpf.testing.life`), and ``env.restart()`` / ``env.takeover()`` start a fresh one on the
same store.
"""

from __future__ import annotations

import asyncio
import tempfile
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Literal, Self, TypeVar

from tpf.authoring.pipeline import Pipeline
from tpf.aws.clients import AwsClients
from tpf.config.settings import Settings
from tpf.coordinator import Coordinator
from tpf.core.clock import FakeClock
from tpf.core.durations import parse_duration_ms
from tpf.core.errors import NotFound
from tpf.core.records import AwaitInteraction, DeadLetterEnvelope, ExecutionRecord, ExecutionStatus
from tpf.engine.releases import build_release
from tpf.stores.base import StoreSet
from tpf.stores.factory import open_stores
from tpf.supervisors.awaits import Completion
from tpf.testing.channel import MemoryBroker, life_channel
from tpf.testing.faults import Outages, outage_worker
from tpf.testing.gate import GatedSink, RecordingSink, gated_stores
from tpf.testing.life import CoordinatorCrashed, Life, track_tasks
from tpf.testing.settings import env_settings
from tpf.testing.settle import burst, next_timer

T = TypeVar("T")
Store = Literal["memory", "sqlite", "dynamo"]
TERMINAL = (ExecutionStatus.SUCCEEDED, ExecutionStatus.FAILED, ExecutionStatus.DLQ)
SinkWrapper = Callable[[RecordingSink], Any]


class TestEnv:
    """A coordinator running ``pipeline`` on ``store`` (``memory`` or ``sqlite`` under
    ``tmp_path``), with a :class:`~tpf.core.clock.FakeClock` and a recording DLQ.

    ``store="dynamo"`` runs the execution state on DynamoDB: ``settings`` must point at it
    (tables created); releases and worker records stay in memory.

    ``overrides`` change settings as :meth:`Settings.replace` does
    (``retries__max_retries=2``). ``owner`` is the coordinator's lease owner id (kept by
    :meth:`restart`). ``dlq_sink`` wraps the recording sink (a test double between the
    coordinator and what it records). ``broker`` runs the await channel on it (parks go
    through the dispatch outbox; answers are consumed from it: :mod:`tpf.testing.channel`).
    """

    __test__ = False  # not a test class, whatever pytest's name rules say

    def __init__(
        self,
        pipeline: Pipeline,
        *,
        store: Store = "memory",
        tmp_path: Path | str | None = None,
        tenant: str = "tests",
        owner: str = "coordinator-1",
        settings: Settings | None = None,
        dlq_sink: SinkWrapper | None = None,
        broker: MemoryBroker | None = None,
        **overrides: Any,
    ) -> None:
        self.pipeline = pipeline
        self.store = store
        self.tenant = tenant
        self.owner = owner
        self.clock = FakeClock()
        self.crash_points_seen: Counter[str] = Counter()
        self.outages = Outages()
        self._tmp_arg = tmp_path
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self._base = settings
        self._overrides = overrides
        self._sink = RecordingSink()
        self._wrap_sink = dlq_sink
        self.broker = broker
        self._stores: StoreSet | None = None
        self._aws: AwsClients | None = None
        self._life: Life | None = None
        self._coordinator: Coordinator | None = None
        self._lives = 0
        self._next_arm: list[tuple[str, int]] = []
        self._untrack: Callable[[], None] | None = None
        self.settings: Settings

    # ------------------------------------------------------------------ lifecycle

    async def __aenter__(self) -> Self:
        if self._tmp_arg is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="tpf-testenv-")
            root = Path(self._tmp.name)
        else:
            root = Path(self._tmp_arg)
        self.settings = env_settings(root, self.store, self._base, self._overrides)
        self._untrack = track_tasks(asyncio.get_running_loop())
        try:
            if self.store == "dynamo":
                self._aws = AwsClients(self.settings)
            self._stores = await open_stores(self.settings, self._aws)
            await self._start(self.owner, first=True)
        except BaseException:
            await self.__aexit__()
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        life, coordinator = self._life, self._coordinator
        if life is not None and coordinator is not None and not life.dead:
            await life.call(coordinator.close)
        elif life is not None:
            await life.buried()
        if self._stores is not None:
            await self._stores.close()
            self._stores = None
        if self._aws is not None:
            await self._aws.close()
            self._aws = None
        if self._untrack is not None:
            self._untrack()
            self._untrack = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    async def _start(self, owner: str, *, first: bool = False) -> None:
        assert self._stores is not None
        self._lives += 1
        life = Life(f"{owner}#{self._lives}", self.crash_points_seen)
        for point, nth in self._next_arm:
            life.arm(point, nth)
        self._next_arm.clear()
        sink = self._sink if self._wrap_sink is None else self._wrap_sink(self._sink)
        channel = None if self.broker is None else life_channel(self.broker, life, self.settings)
        with life.entered():
            coordinator = Coordinator(
                self.settings,
                gated_stores(self._stores, life),
                clock=self.clock,
                dlq_sink=GatedSink(sink, life),
                owner=owner,
                rand=lambda: 0.5,
                instance=owner,
                channel=channel,
            )
        if channel is not None:
            c = coordinator
            c.await_lane.bind(channel.relay, c.awaits, c.stores.awaits, c.clock)
        self._life, self._coordinator = life, coordinator
        await life.call(lambda: self._boot(coordinator, first))

    async def _boot(self, c: Coordinator, first: bool) -> None:
        await c.directory.start()
        await c.await_lane.start()
        await c.reclaim_leases()
        worker = c.host(self.pipeline, worker_type=outage_worker(self.outages))
        if first:
            out = Path(self.settings.state.dir) / "releases-built"
            descriptor = build_release(self.pipeline, out)
            pid = self.pipeline.pipeline_id
            release = await c.register_release(self.tenant, pid, str(descriptor))
            await c.activate_release(self.tenant, pid, release.release_version)
        await c.register_local_worker(self.tenant, worker, f"{c.engine.owner}-local")
        await burst(c)

    async def restart(self) -> None:
        """Start a fresh coordinator with the same owner id on the same store (killing the
        current one first if it still runs). Leases the dead one held expire after
        ``lease-ms``: ``advance`` past them and the sweeper takes their executions over."""
        await self._bury()
        await self._start(self.owner)

    async def takeover(self) -> None:
        """Start a coordinator with another owner id on the same store, after the dead one's
        leases expired (the clock moves past ``lease-ms``)."""
        await self._bury()
        self.clock.advance(self.settings.execution.lease_ms + 1)
        self.owner = f"{self.owner.split('~')[0]}~{self._lives + 1}"
        await self._start(self.owner)

    async def kill(self) -> None:
        """Kill the coordinator now, outside any crash point."""
        if self._life is not None:
            self._life.kill()
        await self._bury()

    async def _bury(self) -> None:
        life = self._life
        if life is None:
            return
        life.kill()
        await life.buried()
        if self.store == "sqlite" and self._stores is not None:
            # What the OS does for a killed process: its SQLite connection and directory lock
            # go (committed data stays; an open transaction is rolled back).
            await self._stores.close()
            self._stores = await open_stores(self.settings)

    # ------------------------------------------------------------------ crash points

    def crash_at(self, point: str, nth: int = 1) -> None:
        """Kill the coordinator the ``nth`` time (from now) it passes crash point ``point``.

        After a crash, this arms the coordinator the next ``restart``/``takeover`` starts (so a
        crash during its recovery, even during its start, can be tested)."""
        life = self._alive()
        if life.dead:
            Life("check", Counter()).arm(point, nth)  # refuse an unknown point now
            self._next_arm.append((point, nth))
        else:
            life.arm(point, nth)

    @property
    def crashed(self) -> bool:
        """Whether the current coordinator died (and is not restarted yet)."""
        return self._life is not None and self._life.dead

    @property
    def crashed_at(self) -> str | None:
        return None if self._life is None else self._life.crashed_at

    # ------------------------------------------------------------------ time

    async def advance(self, duration: str | int) -> int:
        """Let ``duration`` pass (ISO-8601 like ``PT30M``, or milliseconds): the clock moves to
        each timer due on the way (a retry's backoff, an await's deadline, a lease's expiry) in
        order, and every supervisor runs until idle at each, so what one timer causes (the next
        retry) fires in its turn too. The work done."""
        target = self.clock.now_ms() + parse_duration_ms(duration, name="advance")
        work = 0
        while True:
            moment = await self._call(lambda: next_timer(self.coordinator, target))
            self.clock.set(moment)
            work += await self.run_until_idle()
            if moment >= target:
                return work

    async def run_until_idle(self) -> int:
        """Run actors and every supervisor's pass until nothing is left to do now."""
        c = self.coordinator
        return await self._call(lambda: burst(c))

    # ------------------------------------------------------------------ commands

    async def submit(self, payload: Any, *, key: str | None = None) -> str:
        """Submit ``payload`` (idempotency ``key`` optional) and run until idle; its id."""
        c = self.coordinator
        result = await self._command(
            lambda: c.submit(self.tenant, self.pipeline.pipeline_id, payload, idempotency_key=key)
        )
        return result.execution_id

    async def complete(
        self, target: AwaitInteraction | str, payload: Any, *, actor: str | None = None
    ) -> Completion:
        """Complete an interaction (given, by id, or an execution's only pending one)."""
        interaction_id = await self._interaction_id(target)
        c = self.coordinator
        return await self._command(
            lambda: c.complete(
                self.tenant, interaction_id=interaction_id, response=payload, actor=actor
            )
        )

    async def redrive(
        self, execution_id: str, *, reopen_await: bool = False, reason: str | None = None
    ) -> ExecutionRecord:
        """Re-drive a FAILED execution (an operator's ``allowFailed`` re-drive), run until idle."""
        c = self.coordinator
        await self._command(
            lambda: c.redrive(
                self.tenant,
                execution_id,
                allow_failed=True,
                reopen_await=reopen_await,
                reason=reason,
            )
        )
        return await self.status(execution_id)

    def break_worker(self, execution_id: str | None = None) -> None:
        """Make the hosted worker unreachable (for one execution, or all): its transitions
        fail retryably until :meth:`repair_worker`."""
        if execution_id is None:
            self.outages.everything = True
        else:
            self.outages.executions.add(execution_id)

    def repair_worker(self) -> None:
        self.outages.everything = False
        self.outages.executions.clear()

    # ------------------------------------------------------------------ queries

    async def status(self, execution_id: str) -> ExecutionRecord:
        c = self.coordinator
        return await self._call(lambda: c.status(self.tenant, execution_id))

    async def pending(self, execution_id: str | None = None) -> list[AwaitInteraction]:
        """Pending interactions (of one execution), oldest deadline first."""
        c = self.coordinator
        found = await self._call(lambda: c.pending(self.tenant, limit=1000))
        return [i for i in found if execution_id is None or i.execution_id == execution_id]

    async def interactions(self, execution_id: str) -> list[AwaitInteraction]:
        """Every interaction of the execution, whatever its state."""
        c = self.coordinator
        return await self._call(
            lambda: c.stores.awaits.list_for_execution(self.tenant, execution_id)
        )

    async def wait_for(
        self, execution_id: str, *statuses: ExecutionStatus, timeout_s: float = 5.0
    ) -> ExecutionRecord:
        """Run until idle, then the execution once in one of ``statuses`` (default: terminal);
        ``TimeoutError`` if it is not within ``timeout_s`` of running time."""
        wanted = frozenset(statuses or TERMINAL)
        await self.run_until_idle()
        c = self.coordinator
        record = await self._call(
            lambda: c.wait_for(self.tenant, execution_id, wanted, timeout_s=timeout_s)
        )
        if record.status not in wanted:
            raise TimeoutError(f"execution {execution_id} is {record.status.value}")
        return record

    @property
    def dead_letters(self) -> list[DeadLetterEnvelope]:
        """Every DLQ envelope published so far (by any coordinator of this env)."""
        return list(self._sink.envelopes)

    @property
    def coordinator(self) -> Coordinator:
        """The running coordinator (for what the helpers do not cover)."""
        if self._coordinator is None:
            raise RuntimeError("TestEnv is not entered: use `async with TestEnv(...) as env`")
        return self._coordinator

    # ------------------------------------------------------------------ plumbing

    def _alive(self) -> Life:
        if self._life is None:
            raise RuntimeError("TestEnv is not entered: use `async with TestEnv(...) as env`")
        return self._life

    async def _call(self, fn: Callable[[], Awaitable[T]]) -> T:
        return await self._alive().call(fn)

    async def _command(self, fn: Callable[[], Awaitable[T]]) -> T:
        c = self.coordinator

        async def then_idle() -> T:
            result = await fn()
            await burst(c)
            return result

        return await self._call(then_idle)

    async def _interaction_id(self, target: AwaitInteraction | str) -> str:
        if isinstance(target, AwaitInteraction):
            return target.interaction_id
        pending = await self.pending(target)
        if len(pending) == 1:
            return pending[0].interaction_id
        if pending:
            raise ValueError(f"execution {target} has {len(pending)} pending interactions")
        try:
            interactions = await self.interactions((await self.status(target)).execution_id)
        except NotFound:
            return target  # not an execution: an interaction id
        raise NotFound(f"execution {target} has no pending interaction ({len(interactions)} done)")


__all__ = ["CoordinatorCrashed", "TestEnv"]
