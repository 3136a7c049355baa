"""A pipeline whose first step is slow until a deadline or a gate: the takeover test's workload.

Step 0 runs until ``deadlineEpochMs`` from its input, or, when the input names a ``gate`` file,
until that file exists (the deadline then only bounds the wait): a coordinator killed during it
holds a lease on a running transition, while a re-run after the deadline, or once the test has
opened the gate, is instant. A gate makes the step's length the test's decision, not the wall
clock's, so a loaded machine cannot end the step before the test has looked at it. Step 1
awaits an answer, step 2 finishes.
``python -m tpf.cli serve --pipeline tests.ha.slow_pipeline:pipeline``.
"""

from __future__ import annotations

import asyncio
import time

import anyio
import msgspec

from tpf.authoring.pipeline import Pipeline

PIPELINE_ID = "tests.ha.slow"
AWAIT_STEP_ID = "answer"


class Job(msgspec.Struct, frozen=True, rename="camel"):
    n: int
    deadline_epoch_ms: int
    gate: str | None = None  # a file path: the step ends once it exists


class Prepared(msgspec.Struct, frozen=True, rename="camel"):
    n: int


class Answer(msgspec.Struct, frozen=True, rename="camel"):
    n: int
    add: int


class Done(msgspec.Struct, frozen=True, rename="camel"):
    n: int
    total: int


pipeline = Pipeline(PIPELINE_ID)


@pipeline.step("slow")
async def slow(job: Job) -> Prepared:
    if job.gate is None:
        remaining_s = job.deadline_epoch_ms / 1000.0 - time.time()
        if remaining_s > 0:
            await asyncio.sleep(remaining_s)
        return Prepared(n=job.n)
    # The gate is a file the test process creates: there is no event to wait on across
    # processes, so the step looks for it every 20 ms, up to the deadline.
    gate = anyio.Path(job.gate)
    while not await gate.exists() and time.time() * 1000 < job.deadline_epoch_ms:  # noqa: ASYNC110
        await asyncio.sleep(0.02)
    return Prepared(n=job.n)


pipeline.await_step("answer", step_id=AWAIT_STEP_ID, output=Answer, timeout="PT1H")


@pipeline.step("finish")
def finish(answer: Answer) -> Done:
    return Done(n=answer.n, total=answer.n + answer.add)
