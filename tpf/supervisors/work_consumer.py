"""The work consumer: pulls due work items from the queue and routes them to execution actors.

The queue only says "look at execution X now"; the actor claims the lease and decides. Routing
waits for mailbox space (``tell``), which bounds how much work is pulled ahead of the actors.
"""

from __future__ import annotations

from tpf.actors.context import EXECUTION, Engine
from tpf.actors.messages import WORK
from tpf.actors.runtime import ActorSystem

BATCH = 256


class WorkConsumer:
    def __init__(self, engine: Engine, system: ActorSystem) -> None:
        self._engine = engine
        self._system = system

    async def tick(self) -> int:
        items = await self._engine.queue.receive(BATCH)
        for item in items:
            await self._system.tell(EXECUTION, (item.tenant_id, item.execution_id), WORK)
        return len(items)

    async def run(self) -> None:
        """Consume until cancelled, waking as soon as the queue has something due."""
        queue = self._engine.queue
        while True:
            if not await self.tick():
                await queue.wait_ready(1.0)
