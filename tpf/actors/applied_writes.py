"""Marking a resolved interaction applied to its execution, and where that write runs.

:func:`mark_applied` is the write itself (the execution's commits and the awaits supervisor's
repair of a stream item both use it). After a resume it is bookkeeping: the resume is durable
once committed, and the repair pass redoes the mark after a crash. So
:class:`~tpf.actors.commits.ExecutionCommits` starts it without waiting and joins it with the
next commit (:func:`beside`): one store round trip off the completion -> result path, while
"applied" still lands before anything the resumed transition commits.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable

from tpf.core import interactions as inter
from tpf.core.clock import Clock
from tpf.core.records import AwaitInteraction, ExecutionRecord
from tpf.stores.base import AwaitStore

LOG = logging.getLogger("tpf.execution")


async def mark_applied(awaits: AwaitStore, interaction: AwaitInteraction, clock: Clock) -> bool:
    """Mark a resolved ``interaction`` applied to its execution (re-read after a lost
    compare-and-set, until it is applied by anyone or no longer resolved); whether this call
    wrote the mark."""
    current: AwaitInteraction | None = interaction  # usually current: try it before reading
    while current is not None and not current.applied and not current.pending:
        marked = inter.mark_applied(current, clock.now_ms())
        if await awaits.compare_and_set(marked, current.version) is not None:
            return True
        current = await awaits.get(interaction.tenant_id, interaction.interaction_id)
    return False


async def beside(
    writing: Awaitable[ExecutionRecord | None], applying: asyncio.Task[None]
) -> ExecutionRecord | None:
    """``writing``'s answer, once ``applying`` has finished too (its failure only logged)."""
    committed, _ = await asyncio.gather(writing, quietly(applying))
    return committed


async def quietly(applying: asyncio.Task[None]) -> None:
    """Await an "applied" write; a failure is logged, not raised: the resume it follows is
    committed, and the awaits supervisor's repair pass marks the interaction applied later."""
    try:
        await applying
    except Exception as exc:
        LOG.warning("marking a resumed interaction applied failed (repaired later): %s", exc)
