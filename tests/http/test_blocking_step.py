"""A blocking sync step runs in a worker thread: the coordinator keeps answering meanwhile.

The step blocks on a ``threading.Event`` the test opens, so the test decides how long it blocks
(no sleeps). On an event loop that ran the step inline, nothing else could run until the step
gave up waiting (after ``_STEP_GIVES_UP_S``), and the health probes would only answer after it.
"""

from __future__ import annotations

import asyncio
import threading
import time

import msgspec

from tests.http.conftest import ApiFactory, ok
from tpf.authoring.pipeline import Pipeline
from tpf.core.records import ExecutionStatus

_STEP_GIVES_UP_S = 5.0  # the step's own bound, so a loop-blocking regression fails, not hangs


class Job(msgspec.Struct, frozen=True, rename="camel"):
    job_id: str


class Blocking:
    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()
        self.returned = threading.Event()
        self.thread: str | None = None


def blocking_pipeline(steer: Blocking) -> Pipeline:
    pipeline = Pipeline("tests.http.blocking")

    @pipeline.step("Block")
    def block(job: Job) -> Job:  # plain def, blocking: the case a thread exists for
        steer.thread = threading.current_thread().name
        steer.entered.set()
        steer.release.wait(_STEP_GIVES_UP_S)
        steer.returned.set()
        return job

    return pipeline


async def test_health_answers_while_a_sync_step_blocks(make_api: ApiFactory) -> None:
    steer = Blocking()
    pipeline = blocking_pipeline(steer)
    api = await make_api(host=(pipeline,))
    await api.release(pipeline)
    body = {"pipelineId": pipeline.pipeline_id, "inputShape": "UNI", "inputPayload": {"jobId": "j"}}
    accepted = await ok(api.cp("POST", "/executions", json=body))
    try:
        assert await asyncio.to_thread(steer.entered.wait, 10.0), "the step never started"
        timings = []
        for _ in range(5):
            started = time.perf_counter()
            assert await ok(api.raw("GET", "/q/health/live")) is not None
            timings.append(time.perf_counter() - started)
        # Answered while the step still blocks, not after it gave up...
        assert not steer.returned.is_set(), f"health waited for the step ({timings})"
        # ...and promptly (the fastest of five, so one scheduling hiccup of a loaded machine
        # does not decide it).
        assert min(timings) < 0.1, timings
        status = await ok(api.cp("GET", f"/executions/{accepted['executionId']}"))
        assert status["status"] == ExecutionStatus.RUNNING
        assert steer.thread != threading.main_thread().name
    finally:
        steer.release.set()
    done = await api.wait_status(accepted["executionId"])
    assert done["status"] == ExecutionStatus.SUCCEEDED, done
