"""What the coordinator's command and query groups share: the parts the runtime builds.

Each group (:mod:`tpf.engine.executions`, :mod:`tpf.engine.await_commands`,
:mod:`tpf.engine.long_polls`) is a mixin of :class:`~tpf.coordinator.Coordinator` that reads
these attributes (and the status query all of them use); :class:`~tpf.engine.runtime.Runtime`
sets them, once, when it builds them.
"""

from __future__ import annotations

from tpf.actors.context import Engine
from tpf.actors.runtime import ActorSystem
from tpf.config.settings import Settings
from tpf.core.clock import Clock
from tpf.core.errors import NotFound
from tpf.core.records import ExecutionRecord
from tpf.engine.admission import Admission
from tpf.stores.base import StoreSet
from tpf.supervisors.awaits import Awaits
from tpf.transports.workers.directory import WorkerDirectory


class Parts:
    settings: Settings
    stores: StoreSet
    clock: Clock
    system: ActorSystem
    engine: Engine
    admission: Admission
    directory: WorkerDirectory
    awaits: Awaits

    @property
    def ask_timeout_s(self) -> float:
        return self.settings.execution.ask_timeout_ms / 1000.0

    async def status(self, tenant_id: str, execution_id: str) -> ExecutionRecord:
        """The execution as stored (a query: no actor is involved)."""
        record = await self.stores.executions.get(tenant_id, execution_id, self.clock.now_ms())
        if record is None:
            raise NotFound(f"Execution not found: {execution_id}")
        return record
