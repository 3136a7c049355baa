"""DynamoDB-only properties the shared contract cannot see: request counts, sharded indexes,
chunked payloads, schema checks and strict startup, worker compaction, TTL takeover, errors.

Runs against the moto server over HTTP (``dynamo_settings``: the tables created once per session
and emptied per test), like the contract suite's ``dynamo`` parameter.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiobotocore.config import AioConfig
from aiobotocore.session import get_session
from botocore.exceptions import ClientError
from msgspec.structs import replace

from tests.engine.harness import (
    ORDER,
    TENANT,
    TERMINAL,
    Harness,
    RecordingSink,
    accepted,
    restaurant_pipeline,
)
from tests.stores.test_await_store_contract import make as make_interaction
from tests.stores.test_execution_store_contract import DONE, LEASE, T0, dead_letter, make
from tests.stores.test_worker_store_contract import event, register
from tpf.aws.clients import AwsClients
from tpf.config.settings import Settings
from tpf.coordinator import Coordinator
from tpf.core.clock import FakeClock
from tpf.core.errors import (
    ConfigError,
    Conflict,
    RetryableError,
    StoreUnavailable,
    Unavailable,
    ValidationError,
)
from tpf.core.records import ExecutionRecord, ExecutionStatus, InteractionStatus, WorkerEventType
from tpf.engine.startup_checks import check_aws_resources
from tpf.stores.dynamo import (
    DynamoAwaitStore,
    DynamoExecutionStore,
    DynamoWorkerStore,
    create_tables,
    keys,
    missing_resources,
)
from tpf.stores.dynamo.client import TransactionCanceled, health_of, translate
from tpf.stores.dynamo.payloads import ITEM_BUDGET_BYTES
from tpf.stores.dynamo.status_counts import COUNTS_PARTITION
from tpf.stores.factory import check_dynamo, open_stores
from tpf.stores.memory import MemoryExecutionStore, MemoryWorkerStore


class DynamoProbe:
    """The shared clients, the raw DynamoDB client and a log of operation names."""

    def __init__(self, clients: AwsClients, client: Any, settings: Settings) -> None:
        self.clients = clients
        self.client = client
        self.settings = settings
        self.ops: Counter[str] = Counter()
        client.meta.events.register("before-call.dynamodb", self._record)

    def _record(self, model: Any, **kwargs: Any) -> None:
        self.ops[model.name] += 1

    def reset(self) -> None:
        self.ops.clear()
        self.clients.requests.clear()

    @property
    def requests(self) -> int:
        return self.clients.requests["dynamodb"]

    async def items(self, table: str) -> list[dict[str, Any]]:
        """The table's items, leaving out the status counters (not executions)."""
        found: list[dict[str, Any]] = []
        start: dict[str, Any] | None = None
        while True:
            page = await self.client.scan(
                TableName=table, **({"ExclusiveStartKey": start} if start else {})
            )
            found += [
                i for i in page["Items"] if i.get("tenant_id", {}).get("S") != COUNTS_PARTITION
            ]
            start = page.get("LastEvaluatedKey")
            if not start:
                return found


@pytest.fixture
async def dynamo(dynamo_settings: Settings) -> AsyncIterator[DynamoProbe]:
    """Every store table, created and empty (``tests/stores/conftest.py``)."""
    clients = AwsClients(dynamo_settings)
    try:
        client = await clients.client("dynamodb")
        yield DynamoProbe(clients, client, dynamo_settings)
    finally:
        await clients.close()


# --------------------------------------------------------------------------- request counts


async def test_submit_is_one_transaction_and_duplicates_one_more_read(dynamo: DynamoProbe) -> None:
    store = DynamoExecutionStore(dynamo.client, dynamo.settings)
    dynamo.reset()
    await store.create_or_get(make("e1", "k1"), T0)
    assert dynamo.requests == 1
    assert dynamo.ops == {"TransactWriteItems": 1}

    dynamo.reset()
    stored, duplicate = await store.create_or_get(make("e2", "k1"), T0)
    assert (stored.execution_id, duplicate) == ("e1", True)
    # The cancelled transaction returns the key row (ALL_OLD): one read of the execution.
    assert dynamo.ops == {"TransactWriteItems": 1, "GetItem": 1}


async def test_claim_renew_commit_and_get_are_single_requests(dynamo: DynamoProbe) -> None:
    store = DynamoExecutionStore(dynamo.client, dynamo.settings)
    await store.create_or_get(make(), T0)
    # A claim moves a status count in the same transaction as the lease (.status_counts), so
    # it reads the status it moves from first: a read and one transaction.
    dynamo.reset()
    assert await store.claim_lease("t1", "e1", "w1", T0, LEASE) is not None
    assert dynamo.ops == {"GetItem": 1, "TransactWriteItems": 1}
    for operation, call in [
        ("UpdateItem", store.renew_lease("t1", "e1", "w1", 1, T0 + 1, LEASE)),
        ("GetItem", store.get("t1", "e1", T0)),
    ]:
        dynamo.reset()
        assert await call is not None
        assert dynamo.ops == {operation: 1}, operation
    claimed = await store.get("t1", "e1", T0)
    assert claimed is not None
    dynamo.reset()
    done = replace(claimed, version=2, status=ExecutionStatus.SUCCEEDED)
    assert await store.compare_and_set(done, 1) == done
    # The terminal commit also starts the key row's retention and moves the count: one
    # transaction, atomically (the status it replaces was known from the read before).
    assert dynamo.ops == {"TransactWriteItems": 1}
    # A refused claim is the read alone: nothing is written.
    dynamo.reset()
    assert await store.claim_lease("t1", "e1", "w2", T0 * 2, LEASE) is None
    assert dynamo.ops == {"GetItem": 1}
    # A commit by a store that never read the record reads its version and status first; one
    # at a version that is not stored writes nothing.
    fresh = DynamoExecutionStore(dynamo.client, dynamo.settings)
    dynamo.reset()
    assert await fresh.compare_and_set(replace(done, version=9), 5) is None
    assert dynamo.ops == {"GetItem": 1}
    assert await store.count_by_status() == {"SUCCEEDED": 1}


async def test_interaction_create_is_one_transaction(dynamo: DynamoProbe) -> None:
    store = DynamoAwaitStore(dynamo.client, dynamo.settings)
    dynamo.reset()
    first = make_interaction("i1", assignee="ann")
    assert await store.create_or_get(first) == (first, True)
    assert dynamo.ops == {"TransactWriteItems": 1}
    dynamo.reset()
    assert await store.create_or_get(first) == (first, False)
    assert dynamo.ops == {"TransactWriteItems": 1}  # the existing item came back as ALL_OLD
    with pytest.raises(Conflict):
        await store.create_or_get(make_interaction("i2", correlation_id="c-i1"))
    dynamo.reset()
    done = replace(first, version=1, status=InteractionStatus.COMPLETED)
    assert await store.compare_and_set(done, 0) == done
    assert dynamo.ops == {"PutItem": 1}


async def test_concurrent_submits_of_one_key_create_one_execution(dynamo: DynamoProbe) -> None:
    store = DynamoExecutionStore(dynamo.client, dynamo.settings)
    results = await asyncio.gather(
        *(store.create_or_get(make(f"e{n}", "k1"), T0) for n in range(6))
    )
    winners = [stored for stored, duplicate in results if not duplicate]
    assert len(winners) == 1
    assert all(stored == winners[0] for stored, _ in results)
    assert len(await dynamo.items(dynamo.settings.dynamo.execution_table)) == 1


async def test_interaction_correlation_can_move_but_not_onto_a_taken_one(
    dynamo: DynamoProbe,
) -> None:
    store = DynamoAwaitStore(dynamo.client, dynamo.settings)
    first = make_interaction("i1")
    await store.create_or_get(first)
    await store.create_or_get(make_interaction("i2"))
    moved = replace(first, version=1, correlation_id="c-new")
    assert await store.compare_and_set(moved, 0) == moved
    assert await store.get_by_correlation("t1", "c-new") == moved
    assert await store.get_by_correlation("t1", "c-i1") is None
    with pytest.raises(Conflict):
        await store.compare_and_set(replace(moved, version=2, correlation_id="c-i2"), 1)
    dynamo.reset()
    assert await store.compare_and_set(replace(moved, version=2, correlation_id="c-x"), 0) is None
    assert dynamo.ops == {"PutItem": 1}  # the lost condition returned the stored item
    assert await store.get("t1", "i1") == moved


async def test_dead_letters_leave_the_index_one_envelope_at_a_time(dynamo: DynamoProbe) -> None:
    store = DynamoExecutionStore(dynamo.client, dynamo.settings)
    await store.create_or_get(make(), T0)
    failed = make(
        status=ExecutionStatus.FAILED, version=1, dead_letters=(dead_letter("a"), dead_letter("b"))
    )
    await store.compare_and_set(failed, 0)
    assert await store.clear_dead_letter("t1", "e1", "a") is True
    [pending] = await store.find_dead_letters(10)
    assert [e.transition_key for e in pending.dead_letters] == ["b"]
    [item] = await dynamo.items(dynamo.settings.dynamo.execution_table)
    assert (item["dead_letter_key"]["S"], item["dead_letter_count"]["N"]) == ("b", "1")
    assert await store.clear_dead_letter("t1", "e1", "b") is True
    assert await store.find_dead_letters(10) == []
    [item] = await dynamo.items(dynamo.settings.dynamo.execution_table)
    assert "dead_letter_shard" not in item and "dead_letter_key" not in item
    assert await store.get("t1", "e1", T0) == replace(failed, dead_letters=())


async def test_restaurant_execution_costs_ten_dynamo_requests(
    dynamo: DynamoProbe, tmp_path: Path
) -> None:
    """The issue's budget is 12 AWS requests per restaurant execution (submit, two transitions,
    one await, completion); DynamoDB's share must stay at 10."""
    settings = dataclasses.replace(
        dynamo.settings,
        work_queue=dataclasses.replace(dynamo.settings.work_queue, provider="event"),
        dlq=dataclasses.replace(dynamo.settings.dlq, provider="log"),
        releases=dataclasses.replace(dynamo.settings.releases, storage_provider="local"),
        state=dataclasses.replace(dynamo.settings.state, dir=str(tmp_path / "state")),
    )
    stores = await open_stores(settings, dynamo.clients)
    coordinator = Coordinator(settings, stores, clock=FakeClock(), dlq_sink=RecordingSink())
    reads = Counter[str]()
    status = coordinator.status

    async def counted_status(tenant_id: str, execution_id: str) -> ExecutionRecord:
        reads["GetItem"] += 1  # the test's own waiting, not the engine's work
        return await status(tenant_id, execution_id)

    coordinator.status = counted_status  # type: ignore[method-assign]
    h = Harness(coordinator, coordinator.clock, RecordingSink(), None, tmp_path)  # type: ignore[arg-type]
    try:
        h.worker = await h.release(restaurant_pipeline)
        # Admission reads the release and workers once, then caches them.
        await h.settle(await h.submit({**ORDER, "requestId": "warm-up"}))
        dynamo.reset()
        runs = 5
        ids = [await h.submit({**ORDER, "requestId": f"r{n}"}) for n in range(runs)]
        for eid in ids:
            assert (await h.settle(eid)).status is ExecutionStatus.WAITING_EXTERNAL
        for eid in ids:
            interaction = await h.pending_for(eid)
            reads["Query"] += 1
            order_id = interaction.request_payload["orderId"]
            await coordinator.complete(
                TENANT, interaction_id=interaction.interaction_id, response=accepted(order_id)
            )
        for eid in ids:
            assert (await h.settle(eid, TERMINAL)).status is ExecutionStatus.SUCCEEDED
        engine = dynamo.ops - reads
        assert sum(engine.values()) <= 10 * runs, dict(engine)
    finally:
        await coordinator.close()


# --------------------------------------------------------------------------- sharded indexes


async def test_find_due_merges_shards_in_order_without_scanning(dynamo: DynamoProbe) -> None:
    store = DynamoExecutionStore(dynamo.client, dynamo.settings)
    reference = MemoryExecutionStore()
    records = []
    for n in range(60):
        # Long runs of equal due times, so per-shard pages end inside ties.
        due = T0 + (n % 4) * 10
        records.append(make(f"e{n:02d}", f"k{n}", tenant=f"t{n % 3}", next_due=due))
    records.append(make("later", "kl", next_due=T0 + 1_000))
    records.append(make("parked", "kp", status=ExecutionStatus.WAITING_EXTERNAL))
    for record in records:
        await store.create_or_get(record, T0)
        await reference.create_or_get(record, T0)
    shards = {
        keys.shard_of(r.tenant_id, r.execution_id, dynamo.settings.dynamo.shards) for r in records
    }
    assert len(shards) > dynamo.settings.dynamo.shards // 2  # really spread over many shards

    dynamo.reset()
    for limit in (1, 5, 17, 40, 100):
        due = await store.find_due(T0 + 30, limit)
        assert due == await reference.find_due(T0 + 30, limit), limit
    assert "Scan" not in dynamo.ops
    dynamo.reset()
    assert len(await store.find_due(T0 + 999, 100)) == 60
    # One query per shard, one batch read, nothing else.
    assert dynamo.ops == {"Query": dynamo.settings.dynamo.shards, "BatchGetItem": 1}


async def test_overdue_and_unapplied_are_sharded_too(dynamo: DynamoProbe) -> None:
    store = DynamoAwaitStore(dynamo.client, dynamo.settings)
    for n in range(30):
        await store.create_or_get(
            make_interaction(f"i{n:02d}", deadline=T0 + n, tenant=f"t{n % 2}")
        )
    dynamo.reset()
    overdue = await store.find_overdue(T0 + 9, 100)
    assert [i.interaction_id for i in overdue] == [f"i{n:02d}" for n in range(10)]
    assert dynamo.ops == {"Query": dynamo.settings.dynamo.shards, "BatchGetItem": 1}
    for interaction in overdue[:4]:
        resolved = replace(interaction, version=1, status=InteractionStatus.TIMED_OUT)
        await store.compare_and_set(resolved, 0)
    assert [i.interaction_id for i in await store.find_unapplied(10)] == [
        "i00",
        "i02",
        "i01",
        "i03",
    ]
    assert len(await store.find_overdue(T0 + 9, 100)) == 6
    index_keys = {
        item["query_deadline_key"]["S"]
        for item in await dynamo.items(dynamo.settings.dynamo.await_interaction_table)
        if "query_deadline_key" in item
    }
    assert len(index_keys) > 1 and all(k.startswith("active#") for k in index_keys)


# --------------------------------------------------------------------------- payloads


async def test_large_payloads_are_chunked_and_round_trip(dynamo: DynamoProbe) -> None:
    settings = dynamo.settings
    big_input = {"blob": "x" * 600_000, "rows": list(range(20_000))}
    record = replace(make(), input_payload=big_input)
    store = DynamoExecutionStore(dynamo.client, settings)
    assert await store.create_or_get(record, T0) == (record, False)

    # A fresh store (another coordinator: nothing cached) reads the chunks back.
    other = DynamoExecutionStore(dynamo.client, settings)
    assert await other.get("t1", "e1", T0) == record
    claimed = await other.claim_lease("t1", "e1", "w", T0, LEASE)
    assert claimed is not None and claimed.input_payload == big_input
    big_result = {"text": "y" * 500_000}
    done = replace(claimed, version=2, status=ExecutionStatus.SUCCEEDED, result_payload=big_result)
    assert await other.compare_and_set(done, 1) == done
    assert await DynamoExecutionStore(dynamo.client, settings).get("t1", "e1", T0) == done

    [item] = await dynamo.items(settings.dynamo.execution_table)
    assert len(item["record_json"]["S"]) < ITEM_BUDGET_BYTES
    assert item["input_payload_digest"]["S"].startswith("sha256:")
    assert item["result_payload_reference"]["S"].startswith("p-")
    parts = [
        i["payload_part"]["S"] for i in await dynamo.items(settings.dynamo.execution_payload_table)
    ]
    assert parts.count("MANIFEST") == 2
    assert sum(p.startswith("CHUNK#") for p in parts) >= 4  # ~700 KB + ~500 KB in 256 KiB parts


# --------------------------------------------------------------------------- schema


async def test_missing_resources_named_and_strict_startup_refuses(dynamo: DynamoProbe) -> None:
    settings = dynamo.settings
    client = dynamo.client
    assert await missing_resources(client, settings) == []
    await client.update_table(
        TableName=settings.dynamo.await_interaction_table,
        GlobalSecondaryIndexUpdates=[
            {"Delete": {"IndexName": settings.dynamo.index_pending_by_group}}
        ],
    )
    await client.delete_table(TableName=settings.dynamo.worker_table)
    expected = [
        "table tpf_await_interaction: index await-interaction-pending-by-group",
        "table tpf_worker_registry",
    ]
    assert await missing_resources(client, settings) == expected
    assert await check_dynamo(dynamo.clients, settings) == expected

    with pytest.raises(ConfigError) as refused:
        await check_aws_resources(settings, dynamo.clients)  # what Coordinator.open runs first
    assert all(line in refused.value.message for line in expected)
    lenient = dataclasses.replace(
        settings, startup=dataclasses.replace(settings.startup, strict=False)
    )
    await check_aws_resources(lenient, dynamo.clients)

    assert sorted(await create_tables(client, settings)) == [f"created {e}" for e in expected]
    assert await create_tables(client, settings) == []
    assert await missing_resources(client, settings) == []
    stores = await open_stores(settings, dynamo.clients)
    assert isinstance(stores.executions, DynamoExecutionStore)
    assert isinstance(stores.workers, DynamoWorkerStore)
    await stores.close()


async def test_only_configured_providers_need_tables(dynamo: DynamoProbe) -> None:
    releases_only = dataclasses.replace(
        dynamo.settings,
        state=dataclasses.replace(dynamo.settings.state, provider="memory"),
        workers=dataclasses.replace(dynamo.settings.workers, lifecycle_provider="memory"),
    )
    await dynamo.client.delete_table(TableName=dynamo.settings.dynamo.execution_table)
    assert await missing_resources(dynamo.client, releases_only) == []
    assert await missing_resources(dynamo.client, dynamo.settings) == ["table tpf_execution"]


# --------------------------------------------------------------------------- workers


async def test_worker_compaction_keeps_the_fold_and_bounds_history(dynamo: DynamoProbe) -> None:
    settings = dynamo.settings
    store = DynamoWorkerStore(dynamo.client, settings, compact_after=10)
    reference = MemoryWorkerStore()
    events = [register(T0)]
    events += [event(WorkerEventType.HEARTBEAT, T0 + n) for n in range(1, 40)]
    events += [event(WorkerEventType.DRAIN, T0 + 40), register(T0 + 41, release="r2")]
    events += [event(WorkerEventType.HEARTBEAT, T0 + 41 + n) for n in range(1, 15)]
    events += [register(T0, "w2")]
    for e in events:
        assert await store.append(e) == await reference.append(e)
        stored = await dynamo.items(settings.dynamo.worker_table)
        per_worker = Counter(i["worker_id"]["S"] for i in stored)
        assert max(per_worker.values()) <= 10 + 1  # events + one snapshot
    assert await store.list("t1", "p") == await reference.list("t1", "p")
    assert await store.get("t1", "p", "w1") == await reference.get("t1", "p", "w1")
    kinds = Counter(i["record_type"]["S"] for i in await dynamo.items(settings.dynamo.worker_table))
    assert kinds["worker_snapshot"] == 1


async def test_worker_events_in_the_same_millisecond_do_not_collide(dynamo: DynamoProbe) -> None:
    store = DynamoWorkerStore(dynamo.client, dynamo.settings)
    reference = MemoryWorkerStore()
    same_ms = [
        register(T0),
        event(WorkerEventType.HEARTBEAT, T0),
        event(WorkerEventType.HEARTBEAT, T0),
        event(WorkerEventType.DRAIN, T0),
    ]
    for e in same_ms:
        assert await store.append(e) == await reference.append(e)
    assert len(await dynamo.items(dynamo.settings.dynamo.worker_table)) == 4
    folded = await store.get("t1", "p", "w1")
    assert folded == await reference.get("t1", "p", "w1")
    assert folded is not None and folded.draining_since_epoch_ms == T0


# --------------------------------------------------------------------------- TTL


async def test_expired_execution_frees_its_key_atomically(dynamo: DynamoProbe) -> None:
    settings = dynamo.settings
    store = DynamoExecutionStore(dynamo.client, settings)
    await store.create_or_get(make("e1", "k1", status=DONE, ttl_epoch_s=T0 // 1000 + 1), T0)
    later = T0 + 1_000
    fresh = make("e2", "k1", ttl_epoch_s=later // 1000 + 100)
    assert await store.create_or_get(fresh, later) == (fresh, False)
    # The key row now names e2, and the expired e1 was deleted in the same transaction.
    [row] = await dynamo.items(settings.dynamo.execution_key_table)
    assert row["execution_id"]["S"] == "e2"
    assert [
        i["execution_id"]["S"] for i in await dynamo.items(settings.dynamo.execution_table)
    ] == ["e2"]
    # A read of an expired record deletes it and its key row (lazy expiry).
    await store.create_or_get(make("e3", "k3", status=DONE, ttl_epoch_s=T0 // 1000 + 1), T0)
    assert await store.get("t1", "e3", later) is None
    assert {
        r["execution_id"]["S"] for r in await dynamo.items(settings.dynamo.execution_key_table)
    } == {"e2"}
    assert await store.find_due(later + 1, 10) == [fresh]
    # Expired writes are fenced: a commit (a re-drive, say) of an expired record is refused.
    ended = replace(fresh, version=1, status=ExecutionStatus.FAILED)
    assert await store.compare_and_set(ended, 0) == ended
    expiry = fresh.ttl_epoch_s * 1000
    redrive = replace(ended, version=2, status=ExecutionStatus.QUEUED, ttl_epoch_s=0)
    assert await store.compare_and_set(replace(redrive, updated_at_epoch_ms=expiry), 1) is None
    assert await store.compare_and_set(replace(redrive, updated_at_epoch_ms=expiry - 1), 1)


async def test_execution_id_reuse_after_expiry(dynamo: DynamoProbe) -> None:
    store = DynamoExecutionStore(dynamo.client, dynamo.settings)
    await store.create_or_get(make("e1", "k1", status=DONE, ttl_epoch_s=T0 // 1000 + 1), T0)
    again = make("e1", "k2", ttl_epoch_s=T0 // 1000 + 100)
    assert await store.create_or_get(again, T0 + 1_000) == (again, False)
    # The old key's row still names e1, whose record now belongs to k2: k1 is free.
    reuse = make("e9", "k1", ttl_epoch_s=T0 // 1000 + 100)
    assert await store.create_or_get(reuse, T0 + 1_000) == (reuse, False)


def ttls(items: list[dict[str, Any]]) -> set[int | None]:
    return {int(i["ttl_epoch_s"]["N"]) if "ttl_epoch_s" in i else None for i in items}


async def test_only_a_terminal_execution_carries_the_native_ttl(dynamo: DynamoProbe) -> None:
    """``ttl_epoch_s`` is DynamoDB's own TTL: no item a live execution needs (its item, key row
    or payload chunks) may carry it; the terminal commit puts it on all of them; a re-drive
    takes it off again."""
    s = dynamo.settings
    store = DynamoExecutionStore(dynamo.client, s)
    live = replace(make(ttl_epoch_s=0), input_payload={"blob": "x" * 600_000})
    await store.create_or_get(live, T0)
    parked = replace(live, version=1, status=ExecutionStatus.WAITING_EXTERNAL)
    assert await store.compare_and_set(parked, 0) == parked
    for table in (s.dynamo.execution_table, s.dynamo.execution_key_table):
        assert ttls(await dynamo.items(table)) == {None}, table
    input_parts = await dynamo.items(s.dynamo.execution_payload_table)
    assert len(input_parts) >= 4 and ttls(input_parts) == {None}

    ttl = T0 // 1000 + 7 * 86_400
    done = replace(
        parked,
        version=2,
        status=ExecutionStatus.SUCCEEDED,
        result_payload={"text": "y" * 500_000},
        ttl_epoch_s=ttl,
    )
    assert await DynamoExecutionStore(dynamo.client, s).compare_and_set(done, 1) == done
    for table in (
        s.dynamo.execution_table,
        s.dynamo.execution_key_table,
        s.dynamo.execution_payload_table,
    ):
        assert ttls(await dynamo.items(table)) == {ttl}, table

    redriven = replace(done, version=3, status=ExecutionStatus.QUEUED, ttl_epoch_s=0)
    redriven = replace(redriven, result_payload=None)
    assert await DynamoExecutionStore(dynamo.client, s).compare_and_set(redriven, 2) == redriven
    for table in (s.dynamo.execution_table, s.dynamo.execution_key_table):
        assert ttls(await dynamo.items(table)) == {None}, table
    [item] = await dynamo.items(s.dynamo.execution_table)
    input_id = item["input_payload_reference"]["S"]
    chunks = await dynamo.items(s.dynamo.execution_payload_table)
    assert ttls([c for c in chunks if c["payload_id"]["S"] == input_id]) == {None}
    # The old result is referenced by nothing live: its chunks keep their TTL and go.
    assert ttls([c for c in chunks if c["payload_id"]["S"] != input_id]) == {ttl}
    assert await DynamoExecutionStore(dynamo.client, s).get("t1", "e1", ttl * 2000) == redriven


async def stamp_ttl(dynamo: DynamoProbe, table: str, key: tuple[str, ...], ttl: int) -> None:
    """Put ``ttl`` on every item of ``table``, as an older version wrote them (the execution's
    record JSON said so too)."""
    for item in await dynamo.items(table):
        update, values = "SET ttl_epoch_s = :t", {":t": {"N": str(ttl)}}
        if "record_json" in item:
            record = json.loads(item["record_json"]["S"])
            record["ttlEpochS"] = ttl
            update += ", record_json = :j"
            values[":j"] = {"S": json.dumps(record)}
        await dynamo.client.update_item(
            TableName=table,
            Key={k: item[k] for k in key},
            UpdateExpression=update,
            ExpressionAttributeValues=values,
        )


async def test_items_written_with_a_submit_time_ttl_lose_it_on_the_next_commit(
    dynamo: DynamoProbe,
) -> None:
    """Older versions put ``ttl = submit + execution-ttl-days`` on a live execution's item, key
    row and chunks, which DynamoDB would delete under a parked execution. Past that TTL the
    execution still reads and owns its key, and its next commit takes the TTL off everything."""
    s = dynamo.settings
    parked = replace(
        make(status=ExecutionStatus.WAITING_EXTERNAL, ttl_epoch_s=0),
        input_payload={"b": "z" * 600_000},
    )
    await DynamoExecutionStore(dynamo.client, s).create_or_get(parked, T0)
    old_ttl = T0 // 1000 + 7 * 86_400
    await stamp_ttl(dynamo, s.dynamo.execution_table, ("tenant_id", "execution_id"), old_ttl)
    await stamp_ttl(dynamo, s.dynamo.execution_key_table, ("tenant_execution_key",), old_ttl)
    await stamp_ttl(
        dynamo, s.dynamo.execution_payload_table, ("payload_id", "payload_part"), old_ttl
    )
    old = replace(parked, ttl_epoch_s=old_ttl)

    later = (old_ttl + 86_400) * 1000
    store = DynamoExecutionStore(dynamo.client, s)
    assert await store.get("t1", "e1", later) == old
    assert (await store.create_or_get(make("e2", "k1"), later))[1] is True
    resumed = replace(old, version=1, status=ExecutionStatus.QUEUED, ttl_epoch_s=0)
    resumed = replace(resumed, updated_at_epoch_ms=later)
    assert await store.compare_and_set(resumed, 0) == resumed
    for table in (
        s.dynamo.execution_table,
        s.dynamo.execution_key_table,
        s.dynamo.execution_payload_table,
    ):
        assert ttls(await dynamo.items(table)) == {None}, table
    assert await store.get("t1", "e1", later * 2) == resumed


# --------------------------------------------------------------------------- errors


def _client_error(code: str, status: int = 400, **extra: Any) -> ClientError:
    response = {
        "Error": {"Code": code, "Message": "m"},
        "ResponseMetadata": {"HTTPStatusCode": status},
    }
    return ClientError({**response, **extra}, "PutItem")  # type: ignore[arg-type]


def test_botocore_errors_map_into_the_error_tree() -> None:
    assert isinstance(
        translate(_client_error("ThrottlingException"), "put_item", "t"), RetryableError
    )
    assert isinstance(
        translate(_client_error("ProvisionedThroughputExceededException"), "query", "t"),
        RetryableError,
    )
    assert isinstance(translate(_client_error("Whatever", 503), "query", None), StoreUnavailable)
    for code in ("InternalServerError", "ServiceUnavailable"):
        assert isinstance(translate(_client_error(code, 500), "query", "t"), StoreUnavailable)
    # Throttling is DynamoDB pushing back, not failing: retryable, but readiness is unaffected.
    throttled = translate(_client_error("ThrottlingException"), "put_item", "t")
    assert not isinstance(throttled, StoreUnavailable)
    assert isinstance(
        translate(_client_error("ResourceNotFoundException"), "get_item", "t"), Unavailable
    )
    assert isinstance(
        translate(_client_error("ValidationException"), "put_item", "t"), ValidationError
    )
    contention = _client_error(
        "TransactionCanceledException",
        CancellationReasons=[{"Code": "TransactionConflict"}, {"Code": "None"}],
    )
    assert isinstance(translate(contention, "transact_write_items", None), RetryableError)
    lost = translate(
        _client_error(
            "TransactionCanceledException",
            CancellationReasons=[{"Code": "None"}, {"Code": "ConditionalCheckFailed"}],
        ),
        "transact_write_items",
        None,
    )
    assert isinstance(lost, TransactionCanceled) and lost.failed(1) and not lost.failed(0)
    other = ValueError("not a library error")
    assert translate(other, "get_item", "t") is other


async def test_unreachable_endpoint_is_retryable(moto_endpoint: str) -> None:
    # Our own client without botocore's retries (their backoff would only slow the test down).
    session = get_session()
    config = AioConfig(retries={"max_attempts": 1}, connect_timeout=2)
    async with session.create_client(
        "dynamodb",
        region_name="us-east-1",
        endpoint_url="http://127.0.0.1:9",  # the discard port: connection refused
        config=config,
    ) as client:
        store = DynamoExecutionStore(client, Settings())
        with pytest.raises(StoreUnavailable) as refused:
            await store.get("t1", "e1", T0)
        # The endpoint is in the detail, for the log, and not in what a client is told.
        assert "127.0.0.1:9" in refused.value.detail
        assert "127.0.0.1" not in refused.value.message and "127.0.0.1" not in str(refused.value)
        assert health_of(client).failing
