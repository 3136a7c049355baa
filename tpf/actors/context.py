"""What every execution actor and supervisor shares: stores, clock, workers, counters, watchers.

One :class:`Engine` per coordinator process. It holds no execution state of its own (the store
is the truth); it carries the collaborators and two process-local conveniences: counters for
metrics, and watchers that let callers wait for an execution to reach a status without polling.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tpf.config.settings import Settings
from tpf.core.clock import Clock
from tpf.core.lifecycle import RetryPolicy
from tpf.core.records import (
    DeadLetterEnvelope,
    ExecutionRecord,
)
from tpf.stores.base import StoreSet
from tpf.transports.base import WorkQueue
from tpf.transports.workers.directory import WorkerDirectory

EXECUTION = "execution"  # actor kind of ExecutionActor
WatchKey = tuple[str, str]
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


@dataclass
class Engine:
    settings: Settings
    stores: StoreSet
    clock: Clock
    queue: WorkQueue
    workers: WorkerDirectory  # resolves an execution's pinned identity to its worker
    owner: str
    rand: Callable[[], float] = random.random
    counters: Counter[str] = field(default_factory=Counter)
    watchers: Watchers = field(default_factory=Watchers)
    # Set by the coordinator once the supervisors exist (they need the engine first).
    dead_letter_committed: Callable[[DeadLetterEnvelope], None] = lambda envelope: None
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        s = self.settings
        self.retry_policy = RetryPolicy(
            max_retries=s.retries.max_retries,
            retry_delay_ms=s.retries.delay_ms,
            multiplier=s.retries.multiplier,
            jitter=s.retries.jitter,
        )
        # Bounds transitions running at once in this process (worker.max-in-flight).
        self.in_flight = asyncio.Semaphore(max(1, s.workers.max_in_flight))

    def committed(self, record: ExecutionRecord) -> None:
        self.watchers.notify(record)
