"""A pipeline whose first step is slow until a deadline: the takeover test's workload.

Step 0 sleeps until ``deadlineEpochMs`` from its input (so a coordinator killed during it holds
a lease on a running transition, while a re-run after the deadline is instant), step 1 awaits an
answer, step 2 finishes. ``python -m tpf.cli serve --pipeline tests.ha.slow_pipeline:pipeline``.
"""

from __future__ import annotations

import asyncio
import time

import msgspec

from tpf.authoring.pipeline import Pipeline

PIPELINE_ID = "tests.ha.slow"
AWAIT_STEP_ID = "answer"


class Job(msgspec.Struct, frozen=True, rename="camel"):
    n: int
    deadline_epoch_ms: int


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
    remaining_s = job.deadline_epoch_ms / 1000.0 - time.time()
    if remaining_s > 0:
        await asyncio.sleep(remaining_s)
    return Prepared(n=job.n)


pipeline.await_step("answer", step_id=AWAIT_STEP_ID, output=Answer, timeout="PT1H")


@pipeline.step("finish")
def finish(answer: Answer) -> Done:
    return Done(n=answer.n, total=answer.n + answer.add)
