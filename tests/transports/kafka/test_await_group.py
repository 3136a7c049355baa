"""Kafka completions end to end on coordinators: a consumer group of two, and duplicates.

Two coordinators share one memory store set (the runtime allows it: every commit is a version
check on the shared records) and one consumer group on a two-partition response topic; the
restaurant answers every request. The test drives both consumers itself (``poll_once``, the
channel's loop body) so it can wait until the group has split the partitions before anything
is answered: no timing, no sleeps.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer, TopicPartition

from demos.restaurant_approval.pipeline import PIPELINE_ID, pipeline
from tests.engine import harness
from tests.kafka_broker import KafkaBroker
from tests.transports.kafka.helpers import FAST_GROUP
from tests.transports.kafka.test_await_lanes import _kafka_responder, completion
from tpf.config import load_settings
from tpf.config.settings import Settings
from tpf.coordinator import Coordinator
from tpf.core.clock import SystemClock
from tpf.core.records import DispatchState, ExecutionRecord, ExecutionStatus
from tpf.engine.releases import build_release
from tpf.kafka.admin import bootstrap_kafka
from tpf.kafka.settings import kafka_connection
from tpf.stores.base import StoreSet
from tpf.stores.factory import open_stores
from tpf.transports.awaits.kafka import KafkaAwaitChannel, KafkaChannelConfig
from tpf.transports.awaits.relay import CompletionRelay

TENANT = "await-group"
TERMINAL = (ExecutionStatus.SUCCEEDED, ExecutionStatus.FAILED, ExecutionStatus.DLQ)
WAIT_S = 30.0
COUNT = 12


class DrivenChannel(KafkaAwaitChannel):
    """The Kafka channel without its consumer loop: the test calls ``poll_once``."""

    async def start(self) -> None:
        await self._ensure_producer()


@dataclass
class Cluster:
    settings: Settings
    stores: StoreSet
    keys: dict[str, str]
    nodes: list[tuple[Coordinator, DrivenChannel]] = field(default_factory=list)
    commits: list[tuple[str, int, str]] = field(default_factory=list)

    async def node(self, name: str) -> tuple[Coordinator, DrivenChannel]:
        s, relay = self.settings, CompletionRelay()
        config = KafkaChannelConfig(
            connection=kafka_connection(s),
            request_topic=self.keys["tpf.await.kafka.request-topic"],
            response_topic=self.keys["tpf.await.kafka.response-topic"],
            consumer_group=self.keys["tpf.await.kafka.consumer-group"],
            dead_letter_topic=self.keys["tpf.await.kafka.dead-letter-topic"],
            **FAST_GROUP,
        )
        clock = SystemClock()
        channel = DrivenChannel(config, relay, clock)
        coordinator = Coordinator(s, self.stores, clock=clock, instance=name, channel=channel)
        # What Coordinator.open does with the relay of a configured channel.
        coordinator.await_lane.bind(relay, coordinator.awaits, self.stores.awaits, clock)
        notify = coordinator.engine.committed

        def logged(record: ExecutionRecord) -> None:
            self.commits.append((record.execution_id, record.version, record.status.value))
            notify(record)

        coordinator.engine.committed = logged  # type: ignore[method-assign]
        worker = coordinator.host(pipeline)
        descriptor = build_release(pipeline, Path(s.state.dir) / f"build-{name}")
        release = await coordinator.register_release(TENANT, PIPELINE_ID, str(descriptor))
        await coordinator.activate_release(TENANT, PIPELINE_ID, release.release_version)
        await coordinator.register_local_worker(TENANT, worker, f"worker-{name}")
        await coordinator.start()
        self.nodes.append((coordinator, channel))
        return coordinator, channel

    async def drive(self, done: Callable[[], bool], what: str) -> None:
        """Poll every node's consumer, round after round, until ``done()`` (or fail)."""
        deadline = asyncio.get_running_loop().time() + WAIT_S
        while not done():
            assert asyncio.get_running_loop().time() < deadline, f"timed out: {what}"
            await asyncio.gather(*(channel.poll_once(timeout_ms=200) for _, channel in self.nodes))


@pytest.fixture
async def cluster(tmp_path: Path, kafka_broker: KafkaBroker) -> AsyncIterator[Cluster]:
    prefix = f"await-group-{uuid.uuid4().hex[:8]}"
    keys = {
        "tpf.await-transport": "kafka",
        "kafka.bootstrap-servers": kafka_broker.bootstrap_servers,
        "tpf.await.kafka.request-topic": f"{prefix}-requests",
        "tpf.await.kafka.response-topic": f"{prefix}-responses",
        "tpf.await.kafka.dead-letter-topic": f"{prefix}-dead-letters",
        "tpf.await.kafka.consumer-group": f"{prefix}-coordinators",
    }
    loaded = load_settings({}, overrides=keys)
    base = harness.test_settings(tmp_path)  # memory stores, shared by every node
    settings = replace(base, awaits=loaded.awaits, kafka=loaded.kafka)
    topics = {k: v for k, v in keys.items() if k.endswith("-topic")}
    await bootstrap_kafka(kafka_connection(settings), topics, partitions=2)
    stores = await open_stores(settings)
    cluster = Cluster(settings, stores, keys)
    try:
        yield cluster
    finally:
        for coordinator, channel in reversed(cluster.nodes):
            await channel.aclose()
            await coordinator.close()


def order(n: int) -> dict[str, Any]:
    restaurant = "Bistro Queue" if n % 2 else "Cafe TPF"
    return {
        "requestId": f"order-{n}",
        "customerName": "Ada Lovelace",
        "restaurantName": restaurant,
        "items": "Margherita Pizza",
        "totalAmount": "27.50",
        "currency": "EUR",
    }


def assert_once(commits: list[tuple[str, int, str]], ids: list[str]) -> None:
    for eid in ids:
        history = [(v, s) for e, v, s in commits if e == eid]
        versions = [v for v, _ in history]
        assert versions == sorted(set(versions)), f"{eid} committed a version twice: {history}"
        assert [s for _, s in history].count("SUCCEEDED") == 1, history


async def test_two_coordinators_split_completions_each_execution_finishes_once(
    cluster: Cluster,
) -> None:
    (a, ca), (b, cb) = [await cluster.node(name) for name in ("node-a", "node-b")]

    def split() -> bool:
        owned = [c._consumer.assignment() if c._consumer else set() for c in (ca, cb)]
        return all(len(o) == 1 for o in owned) and owned[0] != owned[1]

    await cluster.drive(split, "the group gives each coordinator one partition")
    ids = []
    for n in range(COUNT):  # submitted on both: either may park, publish and finish any
        node = a if n % 2 else b
        ids.append((await node.submit(TENANT, PIPELINE_ID, order(n))).execution_id)
    responder = asyncio.create_task(
        _kafka_responder(kafka_connection(cluster.settings).client_kwargs(), cluster.keys)
    )
    # Finished on whichever node ran the last transition: read from the commit log both nodes
    # feed (a node's wait_for hears only its own commits on memory stores).
    terminal = {status.value for status in TERMINAL}

    def all_finished() -> bool:
        return {e for e, _, status in cluster.commits if status in terminal} >= set(ids)

    try:
        await cluster.drive(all_finished, "every execution finishes")
    finally:
        responder.cancel()
        await asyncio.gather(responder, return_exceptions=True)
    finished: dict[str, ExecutionRecord] = {}
    for eid in ids:
        record = await cluster.stores.executions.get(TENANT, eid, a.clock.now_ms())
        assert record is not None
        finished[eid] = record

    for n, eid in enumerate(ids):
        outcome = (finished[eid].result_payload or {}).get("outcome")
        assert finished[eid].status is ExecutionStatus.SUCCEEDED, finished[eid]
        assert outcome == ("DECLINED" if n % 2 else "APPROVED")
    admitted = [c.outcomes.get("admitted", 0) for c in (ca, cb)]
    assert sum(admitted) == COUNT and min(admitted) > 0, admitted  # both consumed some
    assert_once(cluster.commits, ids)


async def test_duplicate_completion_is_acknowledged_once(cluster: Cluster) -> None:
    coordinator, channel = await cluster.node("solo")
    eid = (await coordinator.submit(TENANT, PIPELINE_ID, order(0))).execution_id
    await coordinator.wait_for(TENANT, eid, (ExecutionStatus.WAITING_EXTERNAL,), timeout_s=WAIT_S)
    (pending,) = await coordinator.pending(TENANT)
    envelope = {"tenantId": TENANT, "interactionId": pending.interaction_id}
    body = completion(envelope | {"requestPayload": pending.request_payload})
    producer = AIOKafkaProducer(**kafka_connection(cluster.settings).client_kwargs())
    await producer.start()
    try:
        for _ in range(2):  # the same completion, twice, on the one key's partition
            await producer.send_and_wait(
                cluster.keys["tpf.await.kafka.response-topic"],
                body,
                key=pending.interaction_id.encode(),
            )
    finally:
        await producer.stop()

    await cluster.drive(lambda: sum(channel.outcomes.values()) >= 2, "both copies handled")
    final = await coordinator.wait_for(TENANT, eid, TERMINAL, timeout_s=WAIT_S)
    assert final.status is ExecutionStatus.SUCCEEDED
    assert (final.result_payload or {}).get("outcome") == "APPROVED"
    assert channel.outcomes == {"admitted": 1, "duplicate": 1}
    assert coordinator.engine.counters["completions_duplicate"] == 1
    assert not coordinator.engine.await_metrics.dropped  # not dead-lettered
    stored = await cluster.stores.awaits.get(TENANT, pending.interaction_id)
    assert stored is not None and stored.dispatch_state is DispatchState.DISPATCHED
    assert_once(cluster.commits, [eid])
    # Both copies acknowledged: the group's committed offsets are past them.
    consumer: Any = channel._consumer
    topic = cluster.keys["tpf.await.kafka.response-topic"]
    committed = [await consumer.committed(TopicPartition(topic, p)) or 0 for p in (0, 1)]
    assert sum(committed) == 2, committed
    assert json.loads(body)["interactionId"] == pending.interaction_id
