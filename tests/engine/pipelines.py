"""Small pipelines the engine tests release next to the restaurant demo.

Each factory returns a fresh :class:`Pipeline` plus a handle the test uses to steer or observe
its code (a call counter, or a gate the step blocks on). Pipeline ids differ from the
restaurant one; the contract hash follows the step names and types, so two builds of the same
pipeline id with different step names are different contract versions.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import msgspec

from tpf.authoring.pipeline import Pipeline
from tpf.core.errors import NonRetryableError

FLAKY_ID = "test.flaky"
BLOCKING_ID = "test.blocking"
PINNED_ID = "test.pinned"
APPROVE_STEP = "Approve"


class Item(msgspec.Struct, frozen=True):
    value: str


class Decision(msgspec.Struct, frozen=True):
    approved: bool
    note: str = ""


class Done(msgspec.Struct, frozen=True):
    outcome: str
    marker: str


@dataclass
class Calls:
    count: int = 0


def flaky_pipeline(
    failures: int, *, non_retryable: bool = False, pipeline_id: str = FLAKY_ID
) -> tuple[Pipeline, Calls]:
    """One await-free step that fails its first ``failures`` calls, then echoes ``value + "!"``."""
    pipeline = Pipeline(pipeline_id)
    calls = Calls()

    @pipeline.step("Flaky")
    def flaky(item: Item) -> Item:
        calls.count += 1
        if calls.count <= failures:
            if non_retryable:
                raise NonRetryableError(f"rejected {item.value}")
            raise RuntimeError(f"boom {calls.count}")
        return Item(value=item.value + "!")

    return pipeline, calls


class Gate:
    """Steers a blocking step: ``entered`` is set when it starts, it returns once ``release``."""

    def __init__(self) -> None:
        self.entered = asyncio.Event()
        self.release = asyncio.Event()
        self.calls = 0
        self.cancelled = 0


def _approve_and_finish(
    pipeline: Pipeline,
    marker: str,
    *,
    step_id: str = APPROVE_STEP,
    assignee: str | None = None,
    group: str | None = None,
) -> None:
    pipeline.await_step(
        "Await Approval",
        step_id=step_id,
        output=Decision,
        timeout="PT30M",
        key_fields=("value",),
        assignee=assignee,
        group=group,
    )

    @pipeline.step(f"Finish {marker}")
    def finish(decision: Decision) -> Done:
        return Done(outcome="APPROVED" if decision.approved else "DECLINED", marker=marker)


def blocking_pipeline(
    *, with_await: bool = False, pipeline_id: str = BLOCKING_ID
) -> tuple[Pipeline, Gate]:
    """Step 0 blocks on the gate; with ``with_await``: step 1 awaits a Decision, step 2 finishes."""
    pipeline = Pipeline(pipeline_id)
    gate = Gate()

    @pipeline.step("Block")
    async def block(item: Item) -> Item:
        gate.calls += 1
        gate.entered.set()
        try:
            await gate.release.wait()
        except asyncio.CancelledError:
            gate.cancelled += 1
            raise
        return Item(value=item.value)

    if with_await:
        _approve_and_finish(pipeline, "blocking")
    return pipeline, gate


def assigned_pipeline(pipeline_id: str, step_id: str, assignee: str, group: str) -> Pipeline:
    """Prepare → await ``step_id`` (assigned to ``assignee``/``group``) → finish."""
    pipeline = Pipeline(pipeline_id)

    @pipeline.step("Prepare")
    def prepare(item: Item) -> Item:
        return item

    _approve_and_finish(pipeline, "assigned", step_id=step_id, assignee=assignee, group=group)
    return pipeline


def versioned_pipeline(marker: str) -> Pipeline:
    """Same pipeline id for every ``marker``, a different contract (the finish step's name) and
    code (the marker it writes into the result)."""
    pipeline = Pipeline(PINNED_ID)

    @pipeline.step("Prepare")
    def prepare(item: Item) -> Item:
        return item

    _approve_and_finish(pipeline, marker)
    return pipeline
