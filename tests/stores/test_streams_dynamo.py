"""Streams on DynamoDB (issue 13): the items and their interactions in the shared tables.

The same flow as the engine tests on memory and SQLite (expansion, itemized await, branch,
aggregation), on the session's moto server, and a second coordinator on the same tables that
takes over a dead one's stream and finishes it from the stored items.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import pytest

from tests.engine.harness import RecordingSink
from tests.engine.stream_pipelines import STREAM_ID, bad, good, stream_pipeline
from tpf.aws.clients import AwsClients
from tpf.config.settings import Settings
from tpf.coordinator import Coordinator
from tpf.core.clock import FakeClock
from tpf.core.records import ExecutionStatus
from tpf.engine.releases import build_release
from tpf.stores.factory import open_stores

TENANT = "streams-dynamo"
DONE = (ExecutionStatus.SUCCEEDED, ExecutionStatus.FAILED, ExecutionStatus.DLQ)
Open = Callable[..., Awaitable[Coordinator]]


@pytest.fixture
async def coordinators(dynamo_settings: Settings) -> AsyncIterator[Open]:
    """``await open_one()``: a coordinator on the shared DynamoDB tables (memory registry and
    lifecycle, in-process queue); every one opened is closed at teardown."""
    settings = dynamo_settings.replace(
        work_queue__provider="event",
        dlq__provider="log",
        releases__registry_provider="memory",
        releases__storage_provider="local",
        workers__lifecycle_provider="memory",
        execution__max_concurrency=4,
        execution__lease_ms=10_000,
    )
    async with AsyncExitStack() as stack:

        async def open_one(clock: FakeClock, **overrides: Any) -> Coordinator:
            s = settings.replace(**overrides)
            aws = AwsClients(s)
            stack.push_async_callback(aws.close)
            c = Coordinator(s, await open_stores(s, aws), clock=clock, dlq_sink=RecordingSink())
            stack.push_async_callback(c.close)
            return c

        yield open_one


async def _release(c: Coordinator, tmp: Path) -> None:
    pipeline, _ = stream_pipeline()
    worker = c.host(pipeline)
    descriptor = build_release(pipeline, tmp / "release")
    record = await c.register_release(TENANT, STREAM_ID, str(descriptor))
    await c.activate_release(TENANT, STREAM_ID, record.release_version)
    await c.register_local_worker(TENANT, worker, "local-1")


async def _answer_open(c: Coordinator, eid: str) -> int:
    answered = 0
    for task in await c.pending(TENANT, limit=100):
        if task.execution_id == eid:
            n = task.item_index
            response = bad(n) if n % 2 else good(n)
            await c.complete(TENANT, interaction_id=task.interaction_id, response=response)
            answered += 1
    return answered


async def test_a_stream_runs_on_dynamodb(coordinators: Open, tmp_path: Path) -> None:
    c = await coordinators(FakeClock())
    await _release(c, tmp_path)
    eid = (await c.submit(TENANT, STREAM_ID, {"count": 6})).execution_id
    for done in (0, 4):
        await c.engine.streams.wait_for(TENANT, eid, lambda p, d=done: p.done == d, 10)
        await c.engine.streams.wait_for(TENANT, eid, lambda p: p.in_flight > 0, 10)
        assert 0 < await _answer_open(c, eid) <= 4  # the window
    final = await c.wait_for(TENANT, eid, DONE, timeout_s=10)
    assert final.status is ExecutionStatus.SUCCEEDED, final.error_message
    expected = [f"{n}:{'no' if n % 2 else 'ok'}" for n in range(6)]
    assert final.result_payload == {"outcomes": expected}
    assert final.items is not None and final.items.branches == {"good": 3, "bad": 3}


async def test_another_coordinator_takes_over_a_stream_on_dynamodb(
    coordinators: Open, tmp_path: Path
) -> None:
    clock = FakeClock()
    first = await coordinators(clock)
    await _release(first, tmp_path / "a")
    eid = (await first.submit(TENANT, STREAM_ID, {"count": 6})).execution_id
    await first.engine.streams.wait_for(TENANT, eid, lambda p: p.in_flight == 4, 10)
    [task] = [t for t in await first.pending(TENANT) if t.item_index == 2]
    await first.complete(TENANT, interaction_id=task.interaction_id, response=good(2))
    await first.engine.streams.wait_for(TENANT, eid, lambda p: p.done == 1, 10)
    await first.close()  # gone: its lease stays until it expires

    second = await coordinators(clock)
    await _release(second, tmp_path / "b")
    clock.advance(10_001)  # the dead coordinator's lease runs out
    assert await second.sweeper.tick() >= 1  # claims it: the items run here now
    for done in (1, 4):
        await second.engine.streams.wait_for(TENANT, eid, lambda p, d=done: p.done >= d, 10)
        await second.engine.streams.wait_for(TENANT, eid, lambda p: p.in_flight > 0, 10)
        await _answer_open(second, eid)
    final = await second.wait_for(TENANT, eid, DONE, timeout_s=10)
    assert final.status is ExecutionStatus.SUCCEEDED, final.error_message
    assert final.result_payload == {"outcomes": ["0:ok", "1:no", "2:ok", "3:no", "4:ok", "5:no"]}


async def _either_has_open_items(runs: tuple[tuple[Coordinator, str], ...]) -> None:
    """Until one of the runs (each on its own coordinator) has an open item again."""
    waits = [
        asyncio.ensure_future(
            node.engine.streams.wait_for(TENANT, eid, lambda p: p.in_flight > 0, 10)
        )
        for node, eid in runs
    ]
    try:
        done, _ = await asyncio.wait(waits, timeout=10, return_when=asyncio.FIRST_COMPLETED)
        assert done, "no run dispatched an item within 10 s"
    finally:
        for wait in waits:
            wait.cancel()


async def test_two_coordinators_share_the_dynamodb_admission_budget(
    coordinators: Open, tmp_path: Path
) -> None:
    """Each coordinator runs its own execution's items; the budget (capacity = the window, 3)
    bounds both together: never more than 3 interactions open across the two."""
    clock = FakeClock()
    budget = {"await_admission__store": "dynamo", "execution__max_concurrency": 3}
    nodes = [await coordinators(clock, **budget) for _ in range(2)]
    for n, node in enumerate(nodes):
        await _release(node, tmp_path / f"node-{n}")
    first = (await nodes[0].submit(TENANT, STREAM_ID, {"count": 4, "tag": "a"})).execution_id
    await nodes[0].engine.streams.wait_for(TENANT, first, lambda p: p.in_flight == 3, 10)
    second = (await nodes[1].submit(TENANT, STREAM_ID, {"count": 4, "tag": "b"})).execution_id
    runs = ((nodes[0], first), (nodes[1], second))
    # The second run found the budget full: it started and dispatched nothing.
    await nodes[1].engine.streams.wait_for(TENANT, second, lambda p: p.total == 4, 10)

    async def open_items() -> list[Any]:
        return [t for t in await nodes[0].pending(TENANT, limit=100) if t.item_index is not None]

    assert len(await open_items()) == 3
    answered = {first: 0, second: 0}
    while sum(answered.values()) < 8:
        tasks = await open_items()
        assert 0 < len(tasks) <= 3  # never more than the budget, across both coordinators
        task = tasks[0]
        node, eid = next(run for run in runs if run[1] == task.execution_id)
        response = good(task.item_index)
        await node.complete(TENANT, interaction_id=task.interaction_id, response=response)
        answered[eid] += 1
        if answered[eid] == 4:
            await node.wait_for(TENANT, eid, DONE, timeout_s=10)
        else:
            await node.engine.streams.wait_for(
                TENANT, eid, lambda p, n=answered[eid]: p.done == n, 10
            )
        if sum(answered.values()) < 8:
            await _either_has_open_items(tuple(r for r in runs if answered[r[1]] < 4))
    for node, eid in runs:
        final = await node.wait_for(TENANT, eid, DONE, timeout_s=10)
        assert final.status is ExecutionStatus.SUCCEEDED, final.error_message
        assert final.result_payload == {"outcomes": ["0:ok", "1:ok", "2:ok", "3:ok"]}
