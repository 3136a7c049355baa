"""The copies of just-parked or just-dispatched interactions a completion tries its write on
(tpf.actors.joint_commits.RecentInteractions): an answer that arrives while this process is
still marking its request dispatched waits for the marked copy; otherwise it does not wait."""

from __future__ import annotations

import asyncio

from tpf.actors.joint_commits import RecentInteractions
from tpf.core import interactions as inter
from tpf.core.records import AwaitInteraction, DispatchState


def _interaction(n: int) -> AwaitInteraction:
    return inter.new_interaction(
        tenant_id="t",
        execution_id=f"e{n}",
        step_id="ask",
        step_index=1,
        attempt=1,
        output_type=None,
        request_payload={"n": n},
        key_fields=(),
        timeout_ms=60_000,
        now_ms=1_000,
        dispatch_state=DispatchState.CREATED,
    )


async def test_an_answer_during_the_dispatch_gets_the_marked_copy() -> None:
    recent = RecentInteractions()
    created = _interaction(1)
    marked = inter.mark_dispatched(created, 2_000)
    assert marked is not None
    recent.remember(created)  # still to be published: not kept
    assert recent.take("t", created.interaction_id) is None
    with recent.dispatching(created):  # published, the mark not written yet
        answer = asyncio.ensure_future(recent.take_after_dispatch("t", created.interaction_id))
        done, _ = await asyncio.wait({answer}, timeout=0.05)
        assert not done  # waits for the mark
        recent.remember(marked)
    assert await asyncio.wait_for(answer, 5) == marked
    assert recent.take("t", created.interaction_id) is None  # taken once


async def test_an_answer_does_not_wait_without_a_dispatch_here_nor_past_its_bound() -> None:
    recent = RecentInteractions()
    created = _interaction(2)
    taking = recent.take_after_dispatch("t", created.interaction_id)
    assert await asyncio.wait_for(taking, 1) is None
    with recent.dispatching(created):
        # A dispatch that does not end (a store that hangs) holds the answer back only so long.
        taking = recent.take_after_dispatch("t", created.interaction_id, wait_s=0.01)
        assert await asyncio.wait_for(taking, 5) is None
    # A failed dispatch (no mark) ends the wait too, with nothing to try.
    with recent.dispatching(created):
        pass
    assert await recent.take_after_dispatch("t", created.interaction_id) is None
