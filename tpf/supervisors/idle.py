"""Burst mode: tick the supervisors until a whole round finds nothing to do (as arq's burst).

Tests (and one-shot tools) call :func:`run_until_idle` instead of starting the supervisor loops
and waiting on them: every pass that is due *now* runs, on the clock as it stands (nothing here
advances time, so a retry or a timeout in the future stays in the future).

A round waits for the actors to finish the messages already sent (a tick only tells actors;
the transitions run on the actors' tasks), then ticks every supervisor once. The run ends after
a round in which no supervisor did any work and no actor handled a message: some passes re-send
messages without counting them as work (the awaits repair), and what those messages do (a
failure's dead letter, say) is work for the next round.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from tpf.actors.runtime import ActorSystem
from tpf.supervisors.loop import Tickable

DEFAULT_MAX_ROUNDS = 100
DEFAULT_SETTLE_TIMEOUT_S = 5.0


async def run_until_idle(
    system: ActorSystem,
    supervisors: Sequence[Tickable],
    *,
    max_rounds: int = DEFAULT_MAX_ROUNDS,
    settle_timeout_s: float = DEFAULT_SETTLE_TIMEOUT_S,
) -> int:
    """Tick ``supervisors`` until a round does no work, at most ``max_rounds`` rounds; returns
    the work the ticks reported in total.

    Raises ``TimeoutError`` when the actors do not go quiet within ``settle_timeout_s`` (a step
    blocked on something outside the process never does).
    """

    async def settle() -> None:
        async with asyncio.timeout(settle_timeout_s):
            await system.quiesce()

    total = 0
    await settle()
    for _ in range(max_rounds):
        handled = system.messages_handled
        did = 0
        for supervisor in supervisors:
            did += await supervisor.tick()
        await settle()
        total += did
        if not did and system.messages_handled == handled:
            break
    return total
