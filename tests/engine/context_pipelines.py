"""Pipelines whose steps take ``ctx: StepContext``, for the step-context tests (issue 13).

``context_pipeline()``: ``Take`` (upper-cases the input) → ``Prepare`` (reads ``Take`` and the
input in the same transition) → await ``Approve`` → ``Finish`` (reads everything through ctx
after the await, in another transition). ``Seen`` records what ``Finish`` saw, call by call,
and can make its first calls fail (to show a retry sees the same context).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import msgspec

from tests.engine.pipelines import Decision, Item
from tpf import StepContext
from tpf.authoring.pipeline import Pipeline
from tpf.core.errors import RetryableError

CONTEXT_ID = "test.context"
APPROVE = "Approve"


class Done(msgspec.Struct, frozen=True):
    summary: str


@dataclass
class Seen:
    finish: list[dict[str, Any]] = field(default_factory=list)
    fail_finish: int = 0
    big: int = 0  # bytes of padding Take returns (to cross the context bound)


def context_pipeline(pipeline_id: str = CONTEXT_ID) -> tuple[Pipeline, Seen]:
    pipeline = Pipeline(pipeline_id)
    seen = Seen()

    @pipeline.step("Take")
    def take(item: Item) -> Item:
        return Item(value=item.value.upper() + "x" * seen.big)

    @pipeline.step("Prepare")
    async def prepare(item: Item, ctx: StepContext) -> Item:
        taken: Item = ctx.output("Take")
        original: Item = ctx.input
        assert ctx.awaited is None  # no await before this step
        return Item(value=f"{original.value}->{taken.value[:8]}")

    pipeline.await_step(APPROVE, step_id=APPROVE, output=Decision, timeout="PT5M")

    @pipeline.step("Finish")
    def finish(decision: Decision, ctx: StepContext) -> Done:
        awaited = ctx.awaited
        assert awaited is not None
        approve: Decision = ctx.output(APPROVE)
        try:
            ctx.output("Nope")
        except KeyError as exc:
            missing = str(exc)
        seen.finish.append(
            {
                "input": ctx.input,
                "take": ctx.output("Take"),
                "prepare": ctx.output("Prepare"),
                "approve": approve,
                "request": awaited.request,
                "actor": awaited.actor,
                "completed_at": awaited.completed_at_epoch_ms,
                "await_step": awaited.step_name,
                "missing": missing,
            }
        )
        if len(seen.finish) <= seen.fail_finish:
            raise RetryableError("not yet")
        return Done(summary=f"{ctx.output('Prepare').value}:{decision.approved}")

    return pipeline, seen
