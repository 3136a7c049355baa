"""A failing step's traceback reaches the operator: ``errorDetail`` in the status, the DLQ line."""

from __future__ import annotations

import asyncio
import logging

import msgspec
import pytest

from tests.http.conftest import ApiFactory, ok
from tpf.authoring.pipeline import Pipeline


class Dish(msgspec.Struct, frozen=True, rename="camel"):
    name: str


def _burn_the_sauce(dish: Dish) -> Dish:
    raise ValueError(f"sauce burnt for {dish.name}")


pipeline = Pipeline("tests.http.faulty")


@pipeline.step("Cook")
def cook(dish: Dish) -> Dish:
    return _burn_the_sauce(dish)


async def test_status_and_dlq_line_carry_the_traceback(
    make_api: ApiFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="tpf.dlq")
    api = await make_api(host=(pipeline,), retries__max_retries=0)
    await api.release(pipeline)
    body = {"pipelineId": pipeline.pipeline_id, "inputShape": "UNI", "inputPayload": {"name": "x"}}
    eid = (await ok(api.cp("POST", "/executions", json=body)))["executionId"]
    status = await api.wait_status(eid)
    assert status["status"] == "FAILED", status
    assert status["errorMessage"] == "sauce burnt for x"
    detail = status["errorDetail"]
    assert "in _burn_the_sauce" in detail and "ValueError: sauce burnt for x" in detail

    loop = asyncio.get_running_loop()
    deadline = loop.time() + 10.0
    while not (lines := [r.getMessage() for r in caplog.records if r.name == "tpf.dlq"]):
        assert loop.time() < deadline, "no DLQ line"
        await asyncio.sleep(0.01)  # the dead-letters loop publishes just after the commit
    [line] = lines
    assert line.startswith("Execution moved to DLQ:") and eid in line
    assert 'message="sauce burnt for x"' in line and "in _burn_the_sauce" in line


async def test_a_running_execution_has_no_error_detail(make_api: ApiFactory) -> None:
    api = await make_api()
    await api.release()
    eid = await api.submit()
    status = await api.wait_status(eid)
    assert status["status"] == "WAITING_EXTERNAL" and status["errorDetail"] is None
