"""A pipeline parked on a 14-day approval, longer than the default ``execution-ttl-days`` (7).

Retention tests (engine and REST) park an execution here, move a fake clock past the TTL and
check that the execution is still read, listed, completed and finished.
"""

from __future__ import annotations

import msgspec

from tpf.authoring.pipeline import Pipeline

PIPELINE_ID = "tests.long-approval"
STEP_ID = "long-approval"
TIMEOUT_MS = 14 * 86_400_000


class Request(msgspec.Struct, frozen=True):
    value: str


class Decision(msgspec.Struct, frozen=True):
    approved: bool


class Outcome(msgspec.Struct, frozen=True):
    value: str
    approved: bool


pipeline = Pipeline(PIPELINE_ID)


@pipeline.step("Prepare")
def prepare(request: Request) -> Request:
    return request


pipeline.await_step(
    "Await Long Approval", step_id=STEP_ID, output=Decision, timeout="P14D", key_fields=("value",)
)


@pipeline.step("Finish")
def finish(decision: Decision) -> Outcome:
    return Outcome(value="done", approved=decision.approved)
