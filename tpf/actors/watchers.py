"""Watchers: futures waiting for an execution to satisfy a predicate, resolved on each commit.

Process-local: they hear the commits of this process only (see
:meth:`tpf.coordinator.Coordinator.wait_settled` for how long polls cover other coordinators).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from tpf.core.records import ExecutionRecord

WatchKey = tuple[str, str]  # (tenant, executionId)
Predicate = Callable[[ExecutionRecord], bool]


class Watchers:
    """Futures waiting for an execution to satisfy a predicate; resolved on each commit."""

    def __init__(self) -> None:
        self._waiting: dict[WatchKey, list[tuple[Predicate, asyncio.Future[ExecutionRecord]]]] = {}

    def notify(self, record: ExecutionRecord) -> None:
        key = (record.tenant_id, record.execution_id)
        waiting = self._waiting.get(key)
        if not waiting:
            return
        keep = []
        for predicate, future in waiting:
            if future.done():
                continue
            if predicate(record):
                future.set_result(record)
            else:
                keep.append((predicate, future))
        if keep:
            self._waiting[key] = keep
        else:
            del self._waiting[key]

    def add(self, key: WatchKey, predicate: Predicate) -> asyncio.Future[ExecutionRecord]:
        future: asyncio.Future[ExecutionRecord] = asyncio.get_running_loop().create_future()
        self._waiting.setdefault(key, []).append((predicate, future))
        return future

    def discard(self, key: WatchKey, future: asyncio.Future[ExecutionRecord]) -> None:
        waiting = self._waiting.get(key)
        if waiting is None:
            return
        waiting[:] = [(p, f) for p, f in waiting if f is not future]
        if not waiting:
            del self._waiting[key]
