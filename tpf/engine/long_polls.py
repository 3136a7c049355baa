"""Long polls: wait until an execution reaches a status, or settles (the REST ``?waitMs=``).

Woken by this process's commits (the engine's watchers); on state shared with other
coordinators the store is re-read as well, since their commits wake nobody here.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable

from tpf.core.records import ExecutionRecord, ExecutionStatus
from tpf.engine.parts import Parts

# Long polls on shared state re-read the store after 0.1 s, then at doubling intervals up to 1 s.
_REREAD_FIRST_S = 0.1
_REREAD_MAX_S = 1.0


class LongPolls(Parts):
    async def wait_for(
        self,
        tenant_id: str,
        execution_id: str,
        statuses: Iterable[ExecutionStatus],
        *,
        timeout_s: float,
    ) -> ExecutionRecord:
        """The execution once its status is one of ``statuses``; the current record on timeout."""
        wanted = frozenset(statuses)
        deadline = asyncio.get_running_loop().time() + timeout_s
        return await self._await_record(
            tenant_id, execution_id, lambda r: r.status in wanted, deadline
        )

    async def wait_settled(
        self, tenant_id: str, execution_id: str, *, timeout_s: float
    ) -> ExecutionRecord:
        """The execution once terminal or parked on an interaction that still awaits its answer;
        the current record after ``timeout_s`` (the REST edge's ``?waitMs=`` long poll).

        A parked execution whose interaction is already resolved is about to resume, so it is not
        settled: a client that completes an await and then long-polls the result gets the resumed
        outcome, not the stale ``WAITING_EXTERNAL`` it had before.

        On shared state, the waiting also re-reads the store (see :meth:`_await_record`).
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        floor = -1  # a park counts only if committed after the resolved one we saw
        while True:
            record = await self._await_record(
                tenant_id, execution_id, _settled_after(floor), deadline
            )
            if record.terminal or loop.time() >= deadline or not await self._resuming(record):
                return record
            floor = record.version

    async def _await_record(
        self,
        tenant_id: str,
        execution_id: str,
        done: Callable[[ExecutionRecord], bool],
        deadline: float,
    ) -> ExecutionRecord:
        """The execution once ``done(record)``, or as it is at ``deadline`` (loop time).

        Woken by this process's commits; it watches before reading, so a commit between the
        read and the wait is not missed. Watchers only hear this process's commits: when the
        state is shared with other coordinators (DynamoDB), the execution may run on one of
        them, so the store is also re-read while waiting, after 0.1 s, then at doubling
        intervals up to once a second, or only once a second while this process holds its lease
        or has just handed its actor a resolution (its own commit will wake us).
        """
        loop = asyncio.get_running_loop()
        key = (tenant_id, execution_id)
        shared = self.settings.state.provider == "dynamo"
        reread_s = _REREAD_FIRST_S
        future = self.engine.watchers.add(key, done)
        try:
            record = await self.status(tenant_id, execution_id)
            while not done(record):
                remaining = deadline - loop.time()
                if remaining <= 0:
                    return record
                wait_s = min(remaining, _REREAD_MAX_S if self.woken_here(record) else reread_s)
                try:
                    record = await asyncio.wait_for(
                        asyncio.shield(future), wait_s if shared else remaining
                    )
                except TimeoutError:
                    # Another coordinator may have committed it: look in the store.
                    record = await self.status(tenant_id, execution_id)
                    reread_s = min(reread_s * 2, _REREAD_MAX_S)
            return record
        finally:
            self.engine.watchers.discard(key, future)

    def woken_here(self, record: ExecutionRecord) -> bool:
        """Whether this process's own next commit of the execution is due (it holds the lease,
        or has just handed its actor a resolution), so a long poll need not re-read soon."""
        key = (record.tenant_id, record.execution_id)
        return record.lease_owner == self.engine.owner or key in self.engine.resuming_here

    async def _resuming(self, record: ExecutionRecord) -> bool:
        if record.await_interaction_id is None:
            return False
        if (record.tenant_id, record.execution_id) in self.engine.resuming_here:
            return True  # its resolution was admitted here and its actor told: no read needed
        interaction = await self.stores.awaits.get(record.tenant_id, record.await_interaction_id)
        return interaction is not None and not interaction.pending


def _settled_after(floor: int) -> Callable[[ExecutionRecord], bool]:
    """Terminal, or parked by a commit after version ``floor``."""
    return lambda r: (
        r.terminal or (r.status is ExecutionStatus.WAITING_EXTERNAL and r.version > floor)
    )
