"""Burst mode for :class:`~tpf.testing.TestEnv`: tick every supervisor until nothing is left.

As :func:`tpf.supervisors.idle.run_until_idle`, with two differences a test harness needs:

- *settled* also counts an actor that is running a stream's items phase and only waits for
  answers (nothing of its own in progress, an empty inbox): that actor handles its message for
  as long as the items take, so waiting for its mailbox to drain would never end;
- the lease keeper and the hosted workers' heartbeats tick first, so a clock that jumped ahead
  renews what a live coordinator would have renewed meanwhile before the sweeper looks for
  expired leases and stale workers.
"""

from __future__ import annotations

import asyncio
from collections.abc import Hashable, Sequence
from typing import Any

from tpf.actors.context import EXECUTION
from tpf.coordinator import Coordinator
from tpf.supervisors.loop import Tickable
from tpf.testing.channel import MemoryAwaitChannel

SETTLE_TIMEOUT_S = 10.0


def _supervisors(c: Coordinator) -> Sequence[Tickable]:
    return (
        c.hosted,
        c.leases,
        c.work_consumer,
        c.sweeper,
        c.dead_letters,
        c.await_dispatcher,
        c.awaits,
        # An in-process channel consumes its answers when ticked (a broker's consumer loop).
        *(ch for ch in c.await_lane.channels() if isinstance(ch, MemoryAwaitChannel)),
    )


def _waiting_run(c: Coordinator, kind: str, key: Hashable) -> bool:
    if kind != EXECUTION or not isinstance(key, tuple):
        return False
    return c.engine.streams.idle(str(key[0]), str(key[1]))


async def settle(c: Coordinator, timeout_s: float = SETTLE_TIMEOUT_S) -> None:
    """Return once every actor is idle or is a stream run waiting for answers."""
    system, streams = c.system, c.engine.streams
    async with asyncio.timeout(timeout_s):
        while True:
            changed = streams.next_change()
            working = [k for k in system.busy() if not _waiting_run(c, *k)]
            if not working:
                return
            waits: list[asyncio.Future[Any]] = [
                asyncio.ensure_future(system.drained(kind, key)) for kind, key in working
            ]
            waits.append(asyncio.ensure_future(changed.wait()))
            try:
                await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for wait in waits:
                    wait.cancel()


async def burst(c: Coordinator, *, max_rounds: int = 100) -> int:
    """Tick the supervisors until a round does no work; the work done."""
    total = 0
    await settle(c)
    for _ in range(max_rounds):
        handled = c.system.messages_handled
        did = 0
        for supervisor in _supervisors(c):
            did += await supervisor.tick()
        await settle(c)
        total += did
        if not did and c.system.messages_handled == handled:
            break
    return total


async def next_timer(c: Coordinator, target: int) -> int:
    """The earliest due time after now and before ``target`` (else ``target``): a due
    execution (retry backoff, lease expiry) or an await's deadline."""
    now, limit = c.clock.now_ms(), c.settings.sweeper.limit
    due = [r.next_due_epoch_ms for r in await c.stores.executions.find_due(target, limit)]
    due += [i.deadline_epoch_ms for i in await c.stores.awaits.find_overdue(target, limit)]
    return min((t for t in due if now < t < target), default=target)
