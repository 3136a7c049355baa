"""KafkaWorkQueue against Tansu: delivery, commit on hand-off, redelivery of what was fetched
but not handed off, a group of two splitting the partitions, and delays on the injected clock."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer

from tests.kafka_broker import unique
from tests.transports.kafka.helpers import FAST_GROUP, WAIT_S, create_topic, take
from tpf.core.clock import Clock, FakeClock, SystemClock
from tpf.core.errors import RetryableError
from tpf.core.records import WorkItem
from tpf.kafka.connection import KafkaConnection
from tpf.transports.work.kafka import KafkaWorkQueue


def item(n: int) -> WorkItem:
    return WorkItem(tenant_id="t1", execution_id=f"e-{n}")


class Lane:
    """Queues on one fresh topic and consumer group: the coordinators of one deployment."""

    def __init__(self, kafka: KafkaConnection) -> None:
        self.kafka = kafka
        self.topic, self.group = unique("work"), unique("coordinators")
        self.opened: list[KafkaWorkQueue] = []

    def queue(self, clock: Clock | None = None, **overrides: Any) -> KafkaWorkQueue:
        options: dict[str, Any] = {"topic": self.topic, "group_id": self.group, **FAST_GROUP}
        queue = KafkaWorkQueue(self.kafka, clock or SystemClock(), **(options | overrides))
        self.opened.append(queue)
        return queue

    async def create(self, partitions: int) -> None:
        await create_topic(self.kafka, self.topic, partitions)


@pytest.fixture
async def lane(kafka: KafkaConnection) -> AsyncIterator[Lane]:
    lane = Lane(kafka)
    yield lane
    for queue in lane.opened:
        await queue.close()


async def test_items_are_delivered_with_the_work_item_body_keyed_by_execution(
    kafka: KafkaConnection, lane: Lane
) -> None:
    await lane.create(partitions=2)
    queue = lane.queue()
    await queue.start()
    for n in range(5):
        await queue.enqueue(item(n))
    got = await take(queue, 5)
    assert sorted(i.execution_id for i in got) == [f"e-{n}" for n in range(5)]
    assert queue.delivered == 5
    assert await queue.receive(10) == []
    assert queue.depth() == 0

    # On the wire: the SQS work message's body, and the execution id as the record key.
    raw = AIOKafkaConsumer(lane.topic, **kafka.client_kwargs(), auto_offset_reset="earliest")
    await raw.start()
    try:
        batches = await raw.getmany(timeout_ms=int(WAIT_S * 1000), max_records=1)
        [record] = [r for records in batches.values() for r in records]
    finally:
        await raw.stop()
    body = json.loads(record.value)
    assert body == {"tenantId": "t1", "executionId": record.key.decode()}


async def test_one_executions_items_keep_their_order(lane: Lane) -> None:
    await lane.create(partitions=4)
    queue = lane.queue()
    sent = [WorkItem(tenant_id=f"t{n}", execution_id="same") for n in range(6)]
    for work in sent:
        await queue.enqueue(work)
    assert await take(queue, 6) == sent


async def test_handed_off_items_are_committed_and_unhanded_ones_redelivered_after_a_restart(
    lane: Lane,
) -> None:
    await lane.create(partitions=1)
    first = lane.queue()
    for n in range(3):
        await first.enqueue(item(n))
    assert await take(first, 1) == [item(0)]
    # The other two are fetched (buffered for hand-off) but never handed off.
    await first.wait_fetched(2, WAIT_S)
    await first.close()

    second = lane.queue()  # same topic, same group: the restarted coordinator
    assert await take(second, 2) == [item(1), item(2)]
    await second.close()

    third = lane.queue()
    await third.wait_assigned(WAIT_S)
    await third.enqueue(item(9))
    # Everything the earlier members handed off was committed: only the new item arrives.
    assert await take(third, 1) == [item(9)]
    assert third.fetched == 0


async def test_two_members_of_one_group_split_the_partitions_and_the_items(lane: Lane) -> None:
    await lane.create(partitions=4)
    one, two = lane.queue(), lane.queue()
    await one.wait_assigned(WAIT_S)
    # The second member's join makes the first give its partitions back and rejoin; each
    # wait_assigned returns once that member holds partitions after the rebalance.
    await two.wait_assigned(WAIT_S)
    await one.wait_assigned(WAIT_S)
    assert one.assignment and two.assignment
    assert one.assignment.isdisjoint(two.assignment)
    assert len(one.assignment | two.assignment) == 4

    sent = [item(n) for n in range(40)]
    for work in sent:
        await one.enqueue(work)
    got_one: list[WorkItem] = []
    got_two: list[WorkItem] = []
    async with asyncio.timeout(WAIT_S):
        while len(got_one) + len(got_two) < len(sent):
            got_one += await one.receive(50)
            got_two += await two.receive(50)
            if len(got_one) + len(got_two) < len(sent):
                await one.wait_ready(0.05)
                await two.wait_ready(0.05)
    assert sorted(got_one + got_two, key=lambda w: int(w.execution_id[2:])) == sent
    assert got_one and got_two  # both members took a share


async def test_a_delayed_item_waits_for_its_due_time_on_the_injected_clock(lane: Lane) -> None:
    await lane.create(partitions=1)
    clock = FakeClock()
    queue = lane.queue(clock)
    delayed = item(1)
    marker = WorkItem(tenant_id="marker", execution_id=delayed.execution_id)  # same key
    await queue.enqueue(delayed, delay_ms=5_000)
    await queue.enqueue(marker)
    # Had the delayed item gone to the topic it would come first (same key, same partition).
    assert await take(queue, 1) == [marker]
    assert await queue.receive(10) == []
    clock.advance(4_999)
    assert await queue.receive(10) == []
    assert queue.depth() == 1
    clock.advance(1)
    await queue.wait_ready(WAIT_S)  # due now: returns at once
    assert await queue.receive(10) == [delayed]
    assert queue.delivered == 1  # only the marker came through the topic
    assert queue.depth() == 0


async def test_depth_counts_what_is_fetched_and_the_partitions_lag(lane: Lane) -> None:
    await lane.create(partitions=1)
    queue = lane.queue(max_buffered=1)  # fetch one record at a time
    for n in range(3):
        await queue.enqueue(item(n))  # all on the topic before the consumer starts
    await queue.wait_fetched(1, WAIT_S)
    assert queue.lag() == {(lane.topic, 0): 2}
    assert queue.depth() == 3  # one fetched, two still on the broker
    assert await take(queue, 3) == [item(0), item(1), item(2)]
    assert queue.lag() == {(lane.topic, 0): 0}
    assert queue.depth() == 0


async def test_malformed_records_are_skipped_and_committed(
    kafka: KafkaConnection, lane: Lane
) -> None:
    from aiokafka import AIOKafkaProducer

    await lane.create(partitions=1)
    producer = AIOKafkaProducer(**kafka.client_kwargs())
    await producer.start()
    try:
        await producer.send_and_wait(lane.topic, b"not a work item")
    finally:
        await producer.stop()
    queue = lane.queue()
    await queue.enqueue(item(1))
    assert await take(queue, 1) == [item(1)]
    assert queue.malformed == 1


async def test_an_unreachable_broker_fails_the_enqueue_as_retryable(
    lane: Lane,
) -> None:
    from tests.kafka_broker import free_port

    nowhere = KafkaConnection(bootstrap_servers=f"127.0.0.1:{free_port()}")
    queue = KafkaWorkQueue(nowhere, SystemClock(), topic="t", group_id="g", send_timeout_s=2.0)
    try:
        with pytest.raises(RetryableError, match="could not connect"):
            await queue.enqueue(item(1))
    finally:
        await queue.close()
    with pytest.raises(RetryableError, match="closed"):
        await queue.enqueue(item(1))
