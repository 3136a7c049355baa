"""A stream item's writes on DynamoDB (tpf.stores.dynamo.await_commits, tpf.actors.
stream_writes): its dispatch creates the interaction with the item ``AWAITING`` in one
``TransactWriteItems``, its answer makes no read before its conditional write, and its finish
writes the item ``DONE`` with the interaction marked applied in one more: counted on the
coordinator's own client, on moto. A joint write whose condition fails writes nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from msgspec.structs import replace

from tests.aws_calls import CallLog
from tests.engine.stream_pipelines import STREAM_ID, good
from tests.stores.test_streams_dynamo import DONE, TENANT, Open, _release, coordinators
from tpf.aws.clients import AwsClients
from tpf.config.settings import Settings
from tpf.coordinator import Coordinator
from tpf.core import interactions as inter
from tpf.core.clock import FakeClock
from tpf.core.items import ItemStatus, StreamItem
from tpf.core.records import AwaitInteraction, ExecutionStatus
from tpf.stores.base import StoreSet
from tpf.stores.factory import open_stores

__all__ = ["coordinators"]  # the fixture, shared with the stream tests


def _tables(params: dict[str, Any]) -> list[str]:
    return [next(iter(a.values()))["TableName"] for a in params["TransactItems"]]


async def run_four_items(c: Coordinator) -> None:
    """A stream of 4 items, each answered once all 4 are in flight, run to SUCCEEDED (shared
    with the SQLite store's test)."""
    eid = (await c.submit(TENANT, STREAM_ID, {"count": 4})).execution_id
    await c.engine.streams.wait_for(TENANT, eid, lambda p: p.in_flight == 4, 10)
    for task in await c.pending(TENANT, limit=100):
        if task.execution_id == eid:
            response = good(task.item_index or 0)
            await c.complete(TENANT, interaction_id=task.interaction_id, response=response)
    final = await c.wait_for(TENANT, eid, DONE, timeout_s=10)
    assert final.status is ExecutionStatus.SUCCEEDED, final.error_message


async def test_an_item_costs_two_transactions_and_its_answer_s_put(
    coordinators: Open, dynamo_settings: Settings, tmp_path: Path
) -> None:
    c = await coordinators(FakeClock())
    await _release(c, tmp_path)
    # Every state store of the coordinator shares the one DynamoDB client.
    calls = CallLog().attach(c.stores.items._db.client)  # type: ignore[attr-defined]
    await run_four_items(c)
    s = dynamo_settings.dynamo
    interactions, correlations, items = (
        s.await_interaction_table,
        s.await_interaction_key_table,
        s.execution_item_table,
    )
    joint = [_tables(p) for p in calls.sent("TransactWriteItems") if items in _tables(p)]
    dispatches = [t for t in joint if t == [interactions, correlations, items]]
    finishes = [t for t in joint if t == [items, interactions]]
    assert (len(dispatches), len(finishes)) == (4, 4), joint
    on_interactions = [
        op for op, p in calls.params if p.get("TableName") == interactions and op != "Query"
    ]
    # Each answer's conditional put, tried on the copy its dispatch left: no read first, no
    # separate put of the item or of "applied".
    assert on_interactions.count("GetItem") == 0, on_interactions
    assert on_interactions.count("PutItem") == 4, on_interactions
    assert not [p for op, p in calls.params if op == "PutItem" and p["TableName"] == items]


async def _item_and_interaction(stores: StoreSet, n: int) -> tuple[StreamItem, AwaitInteraction]:
    execution = f"joint-{n}"
    item = StreamItem(tenant_id=TENANT, execution_id=execution, item_index=0, payload={"n": n})
    assert await stores.items.insert_missing([item]) == 1
    interaction = inter.new_interaction(
        tenant_id=TENANT,
        execution_id=execution,
        step_id="ask",
        step_index=1,
        attempt=1,
        output_type=None,
        request_payload={"n": n},
        key_fields=(),
        timeout_ms=60_000,
        now_ms=1_000,
        item_index=0,
    )
    return item, interaction


async def test_a_joint_item_write_whose_condition_fails_writes_nothing(
    dynamo_settings: Settings,
) -> None:
    aws = AwsClients(dynamo_settings)
    stores = await open_stores(dynamo_settings, aws)
    try:
        await check_joint_item_writes(stores)
    finally:
        await stores.close()
        await aws.close()


async def check_joint_item_writes(stores: StoreSet) -> None:
    """A joint item write whose condition fails writes nothing; one whose conditions hold
    writes both records (shared with the SQLite store's test)."""
    joint = stores.await_commits
    assert joint is not None
    item, interaction = await _item_and_interaction(stores, 1)
    awaiting = replace(item, version=1, status=ItemStatus.AWAITING)
    # The item is not at that version: no interaction created, the item untouched.
    assert not await joint.dispatch_item(awaiting, item.version + 3, interaction)
    assert await stores.awaits.get(TENANT, interaction.interaction_id) is None
    assert await stores.items.get(TENANT, item.execution_id, 0) == item
    # The interaction exists (a re-run's dispatch): the item untouched.
    assert (await stores.awaits.create_or_get(interaction))[1]
    assert not await joint.dispatch_item(awaiting, item.version, interaction)
    assert await stores.items.get(TENANT, item.execution_id, 0) == item

    other, fresh = await _item_and_interaction(stores, 2)
    assert await joint.dispatch_item(replace(awaiting, execution_id="joint-2"), 0, fresh)
    stored = await stores.items.get(TENANT, "joint-2", 0)
    assert stored is not None and stored.status is ItemStatus.AWAITING
    answered = inter.complete(fresh, 2_000, {"ok": True}, None)
    assert await stores.awaits.compare_and_set(answered, fresh.version) is not None
    done = replace(stored, version=2, status=ItemStatus.DONE, output_payload={"ok": True})
    applied = inter.mark_applied(answered, 3_000)
    # The interaction moved on: the item stays AWAITING.
    assert not await joint.finish_item(done, stored.version, applied, fresh.version)
    assert await stores.items.get(TENANT, "joint-2", 0) == stored
    # The item moved on: the interaction stays unapplied.
    assert not await joint.finish_item(done, stored.version + 1, applied, answered.version)
    current = await stores.awaits.get(TENANT, fresh.interaction_id)
    assert current == answered and not current.applied
    # Both where they were: both written.
    assert await joint.finish_item(done, stored.version, applied, answered.version)
    assert await stores.items.get(TENANT, "joint-2", 0) == done
    current = await stores.awaits.get(TENANT, fresh.interaction_id)
    assert current is not None and current.applied
    assert other.execution_id == "joint-2"
