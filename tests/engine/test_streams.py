"""Streams (issue 13) on memory and SQLite: expansion, itemized await, branch, aggregation.

Each item's answer is applied exactly once and lands in the aggregate in item order; the live
window bounds the open interactions; a duplicate per-item completion is acknowledged once; a
timed-out item takes the await's ``timeout_response`` (or fails the execution without one); an
early completion, held before its item is dispatched, is applied once the item's interaction
appears; a restart on the same SQLite file continues the items from the store.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.engine.conftest import HarnessFactory
from tests.engine.harness import PIPELINE_ID, TENANT, Harness, make_harness
from tests.engine.stream_pipelines import (
    CHECK,
    LISTED_ID,
    MULTI_ID,
    STREAM_ID,
    bad,
    good,
    listed_pipeline,
    multi_pipeline,
    stream_pipeline,
)
from tests.engine.support import STORE_OVERRIDES
from tpf.coordinator import Coordinator
from tpf.core import ids
from tpf.core.items import ItemProgress, ItemStatus
from tpf.core.records import ExecutionRecord, ExecutionStatus
from tpf.core.streams import budget_scope
from tpf.errors import Conflict, ValidationError
from tpf.stores.factory import open_stores

DONE = (ExecutionStatus.SUCCEEDED, ExecutionStatus.FAILED, ExecutionStatus.DLQ)


async def _submit(c: Coordinator, count: int, tag: str = "b") -> str:
    return (await c.submit(TENANT, STREAM_ID, {"count": count, "tag": tag})).execution_id


async def _in_flight(c: Coordinator, eid: str, n: int) -> ItemProgress:
    return await c.engine.streams.wait_for(TENANT, eid, lambda p: p.in_flight == n, 5.0)


async def _pending(c: Coordinator, eid: str) -> list[Any]:
    return sorted(
        (p for p in await c.pending(TENANT, limit=1000) if p.execution_id == eid),
        key=lambda p: p.item_index,
    )


async def _answer(c: Coordinator, interaction: Any, response: dict[str, Any]) -> Any:
    return await c.complete(
        TENANT, interaction_id=interaction.interaction_id, response=response, actor="checker"
    )


def _verdict(n: int) -> dict[str, Any]:
    return bad(n) if n % 3 == 0 else good(n)


async def _first_interaction(c: Coordinator, eid: str) -> str:
    record = await c.status(TENANT, eid)
    return next(i.interaction_id for i in await c.interactions_of(record) if not i.pending)


async def _finish(c: Coordinator, eid: str) -> ExecutionRecord:
    return await c.wait_for(TENANT, eid, DONE, timeout_s=5)


async def test_items_branch_and_aggregate_in_order(h: Harness) -> None:
    pipeline, seen = stream_pipeline()
    await h.release(pipeline)
    c = h.coordinator
    eid = await _submit(c, 7)
    await _in_flight(c, eid, 7)
    pending = await _pending(c, eid)
    assert [p.item_index for p in pending] == list(range(7))
    # One interaction per item, keyed per item (spec §4.2), the item's value as request.
    assert len({p.interaction_id for p in pending}) == 7
    assert pending[2].request_payload == {"n": 2, "tag": "b"}
    status = await c.status(TENANT, eid)
    assert status.status is ExecutionStatus.RUNNING and status.items is not None
    assert status.items.total == 7
    for p in reversed(pending):  # answers in any order; the aggregate keeps item order
        await _answer(c, p, _verdict(p.item_index))
    done = await _finish(c, eid)
    assert done.status is ExecutionStatus.SUCCEEDED, done.error_message
    expected = [f"{n}:{'no' if n % 3 == 0 else 'ok'}" for n in range(7)]
    assert done.result_payload == {"outcomes": expected}
    assert seen.aggregated == [list(range(7))]
    assert done.items is not None
    assert (done.items.done, done.items.branches) == (7, {"good": 4, "bad": 3})
    # The history shows the items in aggregate, never one entry per item.
    kinds = [e.kind for e in done.history]
    assert kinds == ["SUBMITTED", "EXPANDED", "ITEMS_DONE", "SUCCEEDED"]
    assert done.history[2].item_counts == {"total": 7, "done": 7, "good": 4, "bad": 3}


async def test_the_live_window_bounds_open_interactions(build: HarnessFactory) -> None:
    h = await build(execution__max_concurrency=3)
    pipeline, seen = stream_pipeline()
    await h.release(pipeline)
    c = h.coordinator
    eid = await _submit(c, 10)
    answered: list[int] = []
    while len(answered) < 10:
        expected, done = min(3, 10 - len(answered)), len(answered)
        await c.engine.streams.wait_for(
            TENANT, eid, lambda p, d=done, e=expected: p.done == d and p.in_flight == e, 5.0
        )
        pending = await _pending(c, eid)
        assert len(pending) == expected  # never more than the window
        # Items dispatch in order as answers free room.
        assert [p.item_index for p in pending] == list(range(done, done + expected))
        await _answer(c, pending[0], good(pending[0].item_index))
        answered.append(pending[0].item_index)
    done = await _finish(c, eid)
    assert done.status is ExecutionStatus.SUCCEEDED
    assert seen.aggregated == [list(range(10))]


async def test_a_duplicate_item_completion_counts_once(h: Harness) -> None:
    pipeline, seen = stream_pipeline()
    await h.release(pipeline)
    c = h.coordinator
    eid = await _submit(c, 2)
    await _in_flight(c, eid, 2)
    first, second = await _pending(c, eid)
    assert not (await _answer(c, first, good(0))).duplicate
    again = await _answer(c, first, good(0))
    assert again.duplicate
    await _in_flight(c, eid, 1)
    items = await c.stores.items.page(TENANT, eid, start=0, limit=10)
    assert [(i.status, i.version) for i in items] == [
        (ItemStatus.DONE, 2),
        (ItemStatus.AWAITING, 1),
    ]
    await _answer(c, second, good(1))
    done = await _finish(c, eid)
    assert done.result_payload == {"outcomes": ["0:ok", "1:ok"]}
    assert seen.aggregated == [[0, 1]]
    # Its result holds what the items became: a succeeded execution's items are deleted.
    assert await c.stores.items.page(TENANT, eid, start=0, limit=10) == []
    assert done.items is not None and done.items.done == 2


async def test_a_timed_out_item_takes_the_timeout_response(h: Harness) -> None:
    pipeline, _ = stream_pipeline()
    await h.release(pipeline)
    c = h.coordinator
    eid = await _submit(c, 2)
    await _in_flight(c, eid, 2)
    first, _second = await _pending(c, eid)
    await _answer(c, first, good(0))
    await _in_flight(c, eid, 1)
    h.clock.advance(5 * 60_000 + 1)
    assert await c.sweeper.tick() >= 1  # times the open interaction out
    done = await _finish(c, eid)
    assert done.status is ExecutionStatus.SUCCEEDED, done.error_message
    assert done.result_payload == {"outcomes": ["0:ok", "-1:no"]}


async def test_a_timed_out_item_without_a_timeout_response_fails_the_execution(
    h: Harness,
) -> None:
    pipeline, seen = stream_pipeline(timeout_response=False)
    await h.release(pipeline)
    c = h.coordinator
    eid = await _submit(c, 1)
    await _in_flight(c, eid, 1)
    h.clock.advance(5 * 60_000 + 1)
    await c.sweeper.tick()
    done = await _finish(c, eid)
    assert done.status in (ExecutionStatus.FAILED, ExecutionStatus.DLQ)
    assert done.error_code == "AWAIT_TIMED_OUT"
    assert "item 0" in (done.error_message or "")
    assert seen.aggregated == []
    # A re-drive asks the timed-out item again (a fresh interaction) and finishes the stream.
    await c.redrive(TENANT, eid, allow_failed=True, reason="provider is back")
    await _in_flight(c, eid, 1)
    [again] = await _pending(c, eid)
    assert again.item_index == 0 and again.interaction_id != (await _first_interaction(c, eid))
    await _answer(c, again, good(0))
    redriven = await _finish(c, eid)
    assert redriven.status is ExecutionStatus.SUCCEEDED, redriven.error_message
    assert redriven.result_payload == {"outcomes": ["0:ok"]}


async def test_an_early_item_completion_is_held_until_its_item_is_dispatched(
    build: HarnessFactory,
) -> None:
    h = await build(execution__max_concurrency=1)
    pipeline, _ = stream_pipeline()
    await h.release(pipeline)
    c = h.coordinator
    eid = await _submit(c, 2)
    await _in_flight(c, eid, 1)
    [first] = await _pending(c, eid)
    # Item 1's interaction does not exist yet (the window holds one): its answer is held.
    later = ids.interaction_id(TENANT, eid, f"{CHECK}:item=1", first.step_index, 0)
    held = await c.awaits.complete(
        TENANT, interaction_id=later, response=good(1), hold_if_missing=True
    )
    assert held.held
    await _answer(c, first, good(0))
    await c.engine.streams.wait_for(TENANT, eid, lambda p: p.done == 1, 5.0)
    assert await c.awaits.retry_held() == 1  # the item's interaction appeared: admitted
    done = await _finish(c, eid)
    assert done.result_payload == {"outcomes": ["0:ok", "1:ok"]}


async def test_a_restart_continues_the_items_from_the_store(tmp_path: Path) -> None:
    h = await make_harness(tmp_path, **STORE_OVERRIDES["sqlite"])
    pipeline, seen = stream_pipeline()
    await h.release(pipeline)
    c = h.coordinator
    eid = await _submit(c, 5)
    await _in_flight(c, eid, 5)
    pending = await _pending(c, eid)
    await _answer(c, pending[1], good(1))
    await c.engine.streams.wait_for(TENANT, eid, lambda p: p.done == 1, 5.0)
    settings = c.settings
    await c.close()  # the run is gone; items, interactions and the lease stay in the store

    restarted = Coordinator(settings, await open_stores(settings), clock=h.clock)
    try:
        restarted.host(pipeline)
        # Answered while nobody runs the items: stored, applied by the next run.
        await _answer(restarted, pending[3], bad(3))
        assert await restarted.reclaim_leases() == 1
        assert await restarted.sweeper.tick() == 1
        await _in_flight(restarted, eid, 3)
        # The new run took its open items' admission slots again (a fresh process's budget).
        open_items = await _pending(restarted, eid)
        assert restarted.stores.budget is not None
        scope = budget_scope(STREAM_ID, open_items[0])
        assert await restarted.stores.budget.in_use(scope, h.clock.now_ms()) == 3
        for p in open_items:
            await _answer(restarted, p, good(p.item_index))
        done = await _finish(restarted, eid)
        assert done.status is ExecutionStatus.SUCCEEDED, done.error_message
        assert done.result_payload == {"outcomes": ["0:ok", "1:ok", "2:ok", "3:no", "4:ok"]}
        assert seen.aggregated == [[0, 1, 2, 3, 4]]
    finally:
        await restarted.close()


async def test_cancelling_a_running_stream_closes_its_open_item_interactions(
    build: HarnessFactory,
) -> None:
    h = await build(execution__max_concurrency=4)
    pipeline, seen = stream_pipeline()
    await h.release(pipeline)
    c = h.coordinator
    eid = await _submit(c, 9)
    await _in_flight(c, eid, 4)
    first = (await _pending(c, eid))[0]
    await _answer(c, first, good(0))
    await c.engine.streams.wait_for(TENANT, eid, lambda p: p.done == 1 and p.in_flight == 4, 5)
    open_before = await _pending(c, eid)
    assert [p.item_index for p in open_before] == [1, 2, 3, 4]
    ended = await c.cancel(TENANT, eid, reason="wrong file")
    assert ended.status is ExecutionStatus.FAILED and ended.error_code == "CANCELLED"
    assert await _pending(c, eid) == []  # the items' open interactions are closed
    with pytest.raises(Conflict):
        await _answer(c, open_before[0], good(1))
    assert seen.aggregated == []


async def test_a_multi_input_is_the_stream_of_items(h: Harness) -> None:
    await h.release(multi_pipeline())
    c = h.coordinator
    items = [{"n": n, "tag": "m"} for n in range(3)]
    with pytest.raises(ValidationError, match=r"inputShape: .* submit MULTI"):
        await c.submit(TENANT, MULTI_ID, items[0])
    with pytest.raises(ValidationError, match=r"inputPayload: .*JSON array"):
        await c.submit(TENANT, MULTI_ID, items[0], input_shape="MULTI")
    eid = (await c.submit(TENANT, MULTI_ID, items, input_shape="MULTI")).execution_id
    await _in_flight(c, eid, 3)
    for p in await _pending(c, eid):
        assert p.request_payload == items[p.item_index]
        await _answer(c, p, _verdict(p.item_index))
    done = await _finish(c, eid)
    assert done.result_payload == {"outcomes": ["0:no", "1:ok", "2:ok"]}
    # A pipeline without a stream takes one input.
    with pytest.raises(ValidationError, match=r"inputShape: .* submit UNI"):
        await c.submit(TENANT, PIPELINE_ID, items, input_shape="MULTI")


async def test_without_an_aggregation_the_items_outputs_are_the_result(h: Harness) -> None:
    await h.release(listed_pipeline())
    c = h.coordinator
    eid = (await c.submit(TENANT, LISTED_ID, {"count": 3})).execution_id
    done = await _finish(c, eid)
    assert done.status is ExecutionStatus.SUCCEEDED, done.error_message
    assert done.result_shape == "MATERIALIZED_MULTI" and done.result_type_id == "java.util.List"
    assert done.result_payload == [{"n": 0, "ok": True}, {"n": 2, "ok": True}, {"n": 4, "ok": True}]
