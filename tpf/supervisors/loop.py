"""The loop every supervisor shares: call ``tick()`` every interval, or sooner when woken.

A supervisor's work is one pass, ``tick()``, which tests call directly (driving a fake clock)
instead of waiting for the loop. The loop only adds scheduling: it runs ``tick()`` again at once
while a pass did work (there may be more), otherwise waits for the interval or a ``wake()``.
A failing pass is logged and retried on the next interval; it never stops the loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Protocol

from tpf.core.errors import StoreUnavailable

LOG = logging.getLogger("tpf.supervisor")


class Tickable(Protocol):
    async def tick(self) -> int: ...


class Pass:
    """A single coroutine function as a :class:`Tickable` (one loop per pass of a supervisor
    whose passes need different cadences)."""

    def __init__(self, run: Callable[[], Awaitable[int]]) -> None:
        self._run = run

    async def tick(self) -> int:
        return await self._run()


class SupervisorLoop:
    def __init__(self, name: str, target: Tickable, interval_s: float) -> None:
        self.name = name
        self._target = target
        self._interval_s = interval_s
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.passes = 0

    def wake(self) -> None:
        self._wake.set()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=f"tpf-{self.name}")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self) -> None:
        while True:
            try:
                did = await self._target.tick()
                self.passes += 1
            except asyncio.CancelledError:
                raise
            except StoreUnavailable:
                # The store logged the fault itself (tpf.stores.health): no traceback per pass.
                LOG.debug("%s pass failed: the state store is unavailable", self.name)
                did = 0
            except Exception:
                LOG.exception("%s pass failed; retrying in %.1fs", self.name, self._interval_s)
                did = 0
            if did:
                await asyncio.sleep(0)  # let others run between busy passes
                continue
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._interval_s)
