"""TestEnv's await channel in process (``tpf.testing.channel``): requests published through the
dispatch outbox, answers consumed through the production consumer path, and a broker that keeps
what a crashed coordinator did not acknowledge."""

from __future__ import annotations

from pathlib import Path

import pytest

from demos.restaurant_approval.pipeline import pipeline
from tests.testing.flows import order
from tpf.core import crash_points as cp
from tpf.core.records import DispatchState, ExecutionStatus
from tpf.testing import CoordinatorCrashed, MemoryBroker, TestEnv

WAITING = ExecutionStatus.WAITING_EXTERNAL


@pytest.fixture(params=["memory", "sqlite"])
def store(request: pytest.FixtureRequest) -> str:
    return str(request.param)


async def test_a_park_is_published_and_its_answer_consumed(store: str, tmp_path: Path) -> None:
    broker = MemoryBroker()
    async with TestEnv(pipeline, store=store, tmp_path=tmp_path, broker=broker) as env:
        eid = await env.submit(order(1))
        await env.wait_for(eid, WAITING)
        [request] = broker.dispatched()
        assert request.execution_id == eid
        [interaction] = await env.interactions(eid)
        assert interaction.dispatch_state is DispatchState.DISPATCHED
        assert interaction.transport_type == "memory"
        answer = {"accepted": {"orderId": request.request_payload["orderId"]}}
        broker.respond(env.tenant, answer, interaction_id=request.interaction_id)
        assert (await env.wait_for(eid)).status is ExecutionStatus.SUCCEEDED
        assert broker.responses == {} and broker.acked == 1
        assert env.crash_points_seen[cp.COMPLETION_CONSUMED] == 1


async def test_an_answer_a_crash_interrupted_is_delivered_again(store: str, tmp_path: Path) -> None:
    broker = MemoryBroker()
    async with TestEnv(pipeline, store=store, tmp_path=tmp_path, broker=broker) as env:
        eid = await env.submit(order(1))
        await env.wait_for(eid, WAITING)
        [request] = broker.dispatched()
        answer = {"accepted": {"orderId": request.request_payload["orderId"]}}
        broker.respond(env.tenant, answer, interaction_id=request.interaction_id)
        env.crash_at(cp.COMPLETION_CONSUMED)
        with pytest.raises(CoordinatorCrashed):
            await env.run_until_idle()
        assert len(broker.responses) == 1 and broker.acked == 0  # not acknowledged: kept
        await env.restart()
        assert (await env.wait_for(eid)).status is ExecutionStatus.SUCCEEDED
        assert broker.responses == {} and broker.acked == 1


async def test_an_answer_no_interaction_claims_is_dead_lettered(tmp_path: Path) -> None:
    broker = MemoryBroker()
    async with TestEnv(pipeline, tmp_path=tmp_path, broker=broker) as env:
        broker.respond(env.tenant, {"accepted": {"orderId": "x"}}, interaction_id="nobody")
        await env.run_until_idle()
        assert broker.responses == {} and broker.dead_letters == []  # held, acknowledged
        await env.advance("PT2M")  # past the hold's minute: parked on the dead-letter queue
        [parked] = broker.dead_letters
        assert b"nobody" in parked


async def test_the_answer_to_a_request_this_process_dispatched_is_written_unread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.stores.test_sqlite_await_commits import database_ops, on_interactions

    broker = MemoryBroker()
    async with TestEnv(pipeline, store="sqlite", tmp_path=tmp_path, broker=broker) as env:
        eid = await env.submit(order(1))
        await env.wait_for(eid, WAITING)
        [request] = broker.dispatched()
        answer = {"accepted": {"orderId": request.request_payload["orderId"]}}
        with database_ops(monkeypatch) as ops:
            broker.respond(env.tenant, answer, interaction_id=request.interaction_id)
            assert (await env.wait_for(eid)).status is ExecutionStatus.SUCCEEDED
    # The dispatcher kept the copy it marked dispatched: the completion's conditional write
    # needs no lookup first, and the resume marks it applied in its own operation.
    lookup_or_write = {"SqliteAwaitStore.get", "SqliteAwaitStore.compare_and_set"}
    path = [op for op in on_interactions(ops) if op in lookup_or_write or ".resume" in op]
    assert path[:2] == ["SqliteAwaitStore.compare_and_set", "SqliteAwaitCommits.resume"], ops
