"""Several coordinators in one process on ONE store, each on its own skewed clock (issue 15).

``async with Cluster(pipeline, nodes=3) as c:`` builds N :class:`~tpf.coordinator.Coordinator`
objects on one shared memory store set. Each node reads a :class:`~tpf.testing.skew.SkewedClock`
view of one :class:`~tpf.core.clock.FakeClock` (``c.node(1).skew_ms = 4_000``), and
``c.partition(i)`` / ``c.heal(i)`` cut node ``i`` from the store (its calls raise
``StoreUnavailable``; see :mod:`tpf.testing.skew` for why a partition raises).

No supervisor loop runs: ``await c.advance("PT5S")`` moves time in steps no longer than the
lease keeper's renewal interval and, after each, ticks every node's supervisors until a round
does no work. Steps blocked in user code (a gate) do not stop a round from ending, unlike
``run_until_idle``, which waits for the actors to go quiet.
"""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

from tpf.authoring.pipeline import Pipeline
from tpf.config.settings import (
    ExecutionSettings,
    ReleaseSettings,
    RetrySettings,
    Settings,
    StateSettings,
    SweeperSettings,
    WorkerSettings,
)
from tpf.coordinator import Coordinator
from tpf.core.clock import FakeClock
from tpf.core.durations import parse_duration_ms
from tpf.core.errors import StoreUnavailable
from tpf.core.records import AwaitInteraction, ExecutionRecord, ExecutionStatus
from tpf.engine.releases import build_release
from tpf.stores.base import StoreSet
from tpf.stores.factory import open_stores
from tpf.supervisors.awaits import Completion
from tpf.supervisors.loop import Tickable
from tpf.testing.skew import Link, SkewedClock, partitionable

TENANT = "cluster-tenant"
TERMINAL = (ExecutionStatus.SUCCEEDED, ExecutionStatus.FAILED, ExecutionStatus.DLQ)
_YIELDS = 20  # event-loop turns that let the messages a tick sent run


class ClusterNode:
    """One coordinator of the cluster, its clock and its link to the store."""

    def __init__(self, index: int, coordinator: Coordinator, clock: SkewedClock, link: Link):
        self.index = index
        self.coordinator = coordinator
        self.clock = clock
        self.link = link
        self.errors = 0  # supervisor ticks that failed (StoreUnavailable while partitioned)
        # When (shared clock) this node's lease keeper ticks next: the real loop runs it every
        # ``interval_s``, not on every sweep; a test may shift its phase (the worst case for a
        # lease is a renewal that falls due just after a tick).
        self.keeper_next_ms = clock.base.now_ms()

    @property
    def keeper_interval_ms(self) -> int:
        return max(1, int(self.coordinator.leases.interval_s * 1000))

    @property
    def skew_ms(self) -> int:
        return self.clock.skew_ms

    @skew_ms.setter
    def skew_ms(self, value: int) -> None:
        self.clock.skew_ms = value

    @property
    def owner(self) -> str:
        return self.coordinator.engine.owner

    @property
    def partitioned(self) -> bool:
        return self.link.cut

    async def tick(self, *, keeper: bool = False) -> int:
        """Tick every supervisor once (the lease keeper only with ``keeper``); the work done.
        A tick refused by the store counts as none (the real loop logs it and goes on)."""
        c = self.coordinator
        did = 0
        passes: list[Tickable] = [
            c.work_consumer,
            c.sweeper,
            c.dead_letters,
            c.await_dispatcher,
            c.awaits,
        ]
        for supervisor in (*passes, c.leases) if keeper else passes:
            try:
                did += await supervisor.tick()
            except StoreUnavailable:
                self.errors += 1
        return did

    async def submit(self, body: Any, *, pipeline_id: str, key: str | None = None) -> str:
        result = await self.coordinator.submit(TENANT, pipeline_id, body, idempotency_key=key)
        return result.execution_id

    async def status(self, execution_id: str) -> ExecutionRecord:
        return await self.coordinator.status(TENANT, execution_id)


class Cluster:
    """N coordinators on one memory store set, with skewed clocks and partitions."""

    def __init__(
        self,
        pipeline: Pipeline,
        nodes: int = 3,
        store: str = "memory",
        *,
        settings: Settings | None = None,
        clock: FakeClock | None = None,
        tmp_dir: Path | None = None,
    ) -> None:
        if store != "memory":
            # SQLite locks its directory to one coordinator; DynamoDB needs moto (tests/ha).
            raise ValueError(f"Cluster runs on the memory store only, not {store!r}")
        if nodes < 1:
            raise ValueError("a cluster needs at least one node")
        self.pipeline = pipeline
        self.size = nodes
        self.clock = clock or FakeClock()
        self._tmp = tempfile.TemporaryDirectory() if tmp_dir is None else None
        self.tmp = tmp_dir or Path(self._tmp.name if self._tmp else ".")
        self.settings = settings or default_settings(self.tmp)
        self.nodes: list[ClusterNode] = []
        self._stores: StoreSet | None = None
        self._next_sweep_ms = self.clock.now_ms()

    @property
    def lease_ms(self) -> int:
        return self.settings.execution.lease_ms

    @property
    def step_ms(self) -> int:
        """The longest single clock move of :meth:`advance`: the sweep interval."""
        return max(1, self.settings.sweeper.interval_ms)

    async def __aenter__(self) -> Cluster:
        self._stores = await open_stores(self.settings)
        for i in range(self.size):
            link = Link()
            clock = SkewedClock(self.clock)
            coordinator = Coordinator(
                self.settings,
                partitionable(self._stores, link),
                clock=clock,
                owner=f"node-{i}",
                rand=lambda: 0.5,
            )
            self.nodes.append(ClusterNode(i, coordinator, clock, link))
        first = self.nodes[0].coordinator
        workers = [node.coordinator.host(self.pipeline) for node in self.nodes]
        digest = workers[0].code_digest
        out = self.tmp / f"release-{digest.removeprefix('sha256:')[:12]}"
        descriptor = build_release(self.pipeline, out)
        rec = await first.register_release(TENANT, self.pipeline.pipeline_id, str(descriptor))
        await first.activate_release(TENANT, self.pipeline.pipeline_id, rec.release_version)
        for node, worker in zip(self.nodes, workers, strict=True):
            await node.coordinator.register_local_worker(TENANT, worker, f"local-{node.index}")
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        for node in self.nodes:
            node.link.cut = False
            await node.coordinator.close()
        if self._stores is not None:
            await self._stores.close()
        if self._tmp is not None:
            self._tmp.cleanup()

    def node(self, index: int) -> ClusterNode:
        return self.nodes[index]

    def partition(self, index: int) -> None:
        self.nodes[index].link.cut = True

    def heal(self, index: int) -> None:
        self.nodes[index].link.cut = False

    async def submit(self, body: Any, *, via: int = 0, key: str | None = None) -> str:
        return await self.nodes[via].submit(body, pipeline_id=self.pipeline.pipeline_id, key=key)

    async def status(self, execution_id: str, *, via: int = 0) -> ExecutionRecord:
        return await self.nodes[via].status(execution_id)

    async def pending(self, *, via: int = 0) -> list[AwaitInteraction]:
        """The open await interactions, as node ``via`` reads them."""
        return await self.nodes[via].coordinator.pending(TENANT, limit=1000)

    async def complete(self, interaction_id: str, response: Any, *, via: int = 0) -> Completion:
        """Answer an await interaction through node ``via`` (any node may: the completion is
        stored, and the execution's holder applies it)."""
        coordinator = self.nodes[via].coordinator
        return await coordinator.complete(TENANT, interaction_id=interaction_id, response=response)

    async def settle(self, *, max_rounds: int = 100, keepers: Sequence[int] = ()) -> int:
        """Tick every node until a round does no work and no actor handled a message; the lease
        keepers of ``keepers`` (node indexes) tick in the first round."""
        total = 0
        for round_ in range(max_rounds):
            handled = self._handled()
            await _yield()
            did = 0
            for node in self.nodes:
                did += await node.tick(keeper=round_ == 0 and node.index in keepers)
            await _yield()
            total += did
            if not did and self._handled() == handled:
                break
        return total

    async def advance(self, duration: int | str) -> int:
        """Move the shared clock by ``duration`` (ms or ISO-8601, e.g. ``"PT5S"``) in steps of
        at most :attr:`step_ms`, settling every node after each; the work done."""
        target = self.clock.now_ms() + parse_duration_ms(duration, name="advance")
        total = await self.settle()
        while self.clock.now_ms() < target:
            # The next event: a sweep, some node's lease-keeper tick, or the end.
            at = min([target, self._next_sweep_ms] + [n.keeper_next_ms for n in self.nodes])
            self.clock.set(max(at, self.clock.now_ms()))
            now = self.clock.now_ms()
            if now >= self._next_sweep_ms:
                self._next_sweep_ms = now + self.step_ms
            keepers = []
            for node in self.nodes:
                if now >= node.keeper_next_ms:
                    node.keeper_next_ms = now + node.keeper_interval_ms
                    keepers.append(node.index)
            total += await self.settle(keepers=keepers)
        return total

    async def wait_terminal(
        self, execution_ids: Sequence[str], *, via: int = 0, within: int | str = "PT5M"
    ) -> list[ExecutionRecord]:
        """Advance until every execution is terminal (at most ``within``); their records."""
        budget = parse_duration_ms(within, name="within")
        while True:
            records = [await self.status(eid, via=via) for eid in execution_ids]
            if all(r.status in TERMINAL for r in records) or budget <= 0:
                return records
            await self.advance(self.step_ms)
            budget -= self.step_ms

    def _handled(self) -> int:
        return sum(n.coordinator.system.messages_handled for n in self.nodes)


async def _yield() -> None:
    for _ in range(_YIELDS):
        await asyncio.sleep(0)


def default_settings(tmp: Path, *, lease_ms: int = 30_000) -> Settings:
    """Memory stores, no retry jitter, a 1 s sweep: the lease at its default 30 s."""
    return Settings(
        state=StateSettings(provider="memory", dir=str(tmp / "state")),
        releases=ReleaseSettings(registry_provider="memory"),
        workers=WorkerSettings(lifecycle_provider="memory"),
        retries=RetrySettings(delay_ms=1_000, jitter=0.0),
        execution=ExecutionSettings(lease_ms=lease_ms),
        sweeper=SweeperSettings(interval_ms=1_000),
    )
