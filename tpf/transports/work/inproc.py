"""In-process work queue: a delay heap on the event loop, for the one-process coordinator.

Items due now are kept in FIFO order; delayed items wait in a heap ordered by due time. Time
comes from the injected clock, so tests advance a fake clock and call the consumer's ``tick()``
instead of waiting.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
from collections import deque

from tpf.core.clock import Clock
from tpf.core.records import WorkItem


class InProcessWorkQueue:
    def __init__(self, clock: Clock, *, signal: asyncio.Event | None = None) -> None:
        """``signal`` is set whenever an item arrives; a queue that wraps this one (the SQS
        queue keeps its loopback items here) passes its own, to wake on either source."""
        self._clock = clock
        self._ready: deque[WorkItem] = deque()
        self._delayed: list[tuple[int, int, WorkItem]] = []
        self._seq = itertools.count()
        self._signal = signal or asyncio.Event()

    async def enqueue(self, item: WorkItem, delay_ms: int = 0) -> None:
        if delay_ms <= 0:
            self._ready.append(item)
        else:
            due = self._clock.now_ms() + delay_ms
            heapq.heappush(self._delayed, (due, next(self._seq), item))
        self._signal.set()

    async def receive(self, max_items: int) -> list[WorkItem]:
        now = self._clock.now_ms()
        delayed = self._delayed
        while delayed and delayed[0][0] <= now:
            self._ready.append(heapq.heappop(delayed)[2])
        out: list[WorkItem] = []
        ready = self._ready
        while ready and len(out) < max_items:
            out.append(ready.popleft())
        return out

    def has_ready(self) -> bool:
        """Whether an item is receivable now (due, delayed or not)."""
        return bool(self._ready) or bool(
            self._delayed and self._delayed[0][0] <= self._clock.now_ms()
        )

    def wait_limit_s(self, timeout_s: float) -> float:
        """``timeout_s``, shortened so a waiter wakes when the next delayed item falls due."""
        if not self._delayed:
            return timeout_s
        until_next = (self._delayed[0][0] - self._clock.now_ms()) / 1000.0
        return max(0.0, min(timeout_s, until_next))

    async def wait_ready(self, timeout_s: float) -> None:
        if self.has_ready():
            return
        self._signal.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._signal.wait(), self.wait_limit_s(timeout_s))

    def depth(self) -> int:
        return len(self._ready) + len(self._delayed)

    async def close(self) -> None:
        self._ready.clear()
        self._delayed.clear()
