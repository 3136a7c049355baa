"""The sweeper: times out overdue awaits and re-dispatches due executions (spec §3.8).

It is the safety net under the queue: an execution whose work message was lost, whose lease
expired with its holder, or whose retry is later than the queue can delay, is due in the store,
and the sweeper finds it through the due index (never a scan). Overdue interactions are marked
``TIMED_OUT`` and their executions fail with ``AWAIT_TIMEOUT`` (and, unlike the original, a DLQ
envelope).
"""

from __future__ import annotations

import logging

from tpf.actors.context import EXECUTION, Engine
from tpf.actors.messages import WORK, Resolve
from tpf.actors.runtime import ActorSystem
from tpf.core import crash_points as cp
from tpf.core import interactions as inter
from tpf.core.events import log_timed_out
from tpf.core.records import ExecutionStatus
from tpf.supervisors.leadership import AlwaysLeader, Leadership

LOG = logging.getLogger("tpf.sweeper")


class Sweeper:
    def __init__(
        self, engine: Engine, system: ActorSystem, leadership: Leadership | None = None
    ) -> None:
        self._engine = engine
        self._system = system
        self._leadership = leadership or AlwaysLeader()

    async def tick(self) -> int:
        if not await self._leadership.is_leader():
            return 0  # another coordinator sweeps (tpf.sweeper.leader-election)
        self._engine.metrics.sweeper_runs.inc()
        return await self.time_out_awaits() + await self.dispatch_due()

    async def time_out_awaits(self) -> int:
        engine = self._engine
        awaits = engine.stores.awaits
        now = engine.clock.now_ms()
        count = 0
        for interaction in await awaits.find_overdue(now, engine.settings.sweeper.limit):
            timed_out = await awaits.compare_and_set(
                inter.time_out(interaction, now), interaction.version
            )
            if timed_out is None:
                continue  # completed (or timed out elsewhere) meanwhile
            cp.crash_point(cp.TIMEOUT_WRITE)  # timed out, its execution not yet told
            count += 1
            engine.counters["await_timed_out"] += 1
            engine.metrics.sweeper_await_timeouts.inc()
            log_timed_out(LOG, timed_out, "sweeper")
            engine.feed.interaction_changed(timed_out)
            if engine.item_answered(timed_out):
                continue
            await self._system.tell(
                EXECUTION, (timed_out.tenant_id, timed_out.execution_id), Resolve(timed_out)
            )
        return count

    async def dispatch_due(self) -> int:
        engine = self._engine
        due = await engine.stores.executions.find_due(
            engine.clock.now_ms(), engine.settings.sweeper.limit
        )
        for record in due:
            await self._system.tell(EXECUTION, (record.tenant_id, record.execution_id), WORK)
        engine.counters["swept"] += len(due)
        # A due RUNNING record's lease expired with its holder: the next claim takes it over.
        takeovers = sum(record.status is ExecutionStatus.RUNNING for record in due)
        engine.metrics.lease_takeovers.inc(takeovers)
        engine.metrics.sweeper_recoveries.inc(len(due))
        return len(due)
