"""Where sync step code runs: a bounded set of worker threads, off the event loop.

A plain ``def`` step may block (a ``requests`` call, a ``time.sleep``, a CPU-bound loop); run on
the event loop it would freeze every other execution, the supervisors and the REST edge (health
probes included) until it returned. So sync steps run in a worker thread through anyio's
``to_thread.run_sync``, at most ``tpf.worker.step-threads`` at once per coordinator (a step over
the limit waits for a free thread, holding its transition slot); ``async def`` steps run on the
loop. Decoding inputs and converting outputs stay on the loop: they are cheap, and a thread hop
costs more than they do.

Cancellation: the lease keeper cancels a transition whose lease was lost. A thread cannot be
killed, so the transition stops waiting at once and the step's eventual result is discarded
(``abandon_on_cancel``), but the step code itself runs on to its end in its thread; its slot is
freed when the transition stops waiting, so abandoned steps can briefly exceed the limit. Step
code with side effects must therefore be idempotent, as it must be anyway for retries.
"""

from __future__ import annotations

import asyncio

import anyio

DEFAULT_STEP_THREADS = 40  # anyio's own default thread limit


class StepThreads:
    """The thread limit shared by one coordinator's local workers.

    The anyio limiter belongs to an event loop, and a coordinator may be built before its loop
    runs, so it is created on first use on the running loop (and again on another loop).
    """

    def __init__(self, size: int = DEFAULT_STEP_THREADS) -> None:
        if size < 1:
            raise ValueError(f"step threads must be at least 1, got {size}")
        self.size = size
        self._loop: asyncio.AbstractEventLoop | None = None
        self._limiter: anyio.CapacityLimiter | None = None

    def limiter(self) -> anyio.CapacityLimiter:
        loop = asyncio.get_running_loop()
        if self._limiter is None or self._loop is not loop:
            self._limiter = anyio.CapacityLimiter(self.size)
            self._loop = loop
        return self._limiter
