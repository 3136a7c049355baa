"""The "applied" write of a resumed interaction, run beside the commit that follows it.

A resume is durable once committed; marking its interaction applied is bookkeeping that the
awaits supervisor's repair pass redoes after a crash. So
:class:`~tpf.actors.commits.ExecutionCommits` starts it without waiting and joins it with the
next commit (:func:`beside`): one store round trip off the completion -> result path, while
"applied" still lands before anything the resumed transition commits.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable

from tpf.core.records import ExecutionRecord

LOG = logging.getLogger("tpf.execution")


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
