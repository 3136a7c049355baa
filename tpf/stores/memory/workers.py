"""``MemoryWorkerStore``: folded worker records in memory (no event history)."""

from __future__ import annotations

from tpf.core.records import WorkerEvent, WorkerRecord
from tpf.stores.rules import fold_worker_event

_Key = tuple[str, str]


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
