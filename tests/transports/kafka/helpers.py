"""Helpers for the Kafka transport tests: fast group settings, topics, waiting on queues."""

from __future__ import annotations

import asyncio

from tpf.core.records import WorkItem
from tpf.kafka.admin import bootstrap_kafka
from tpf.kafka.connection import KafkaConnection
from tpf.transports.work.kafka import KafkaWorkQueue

# Tansu completes a group join after about half the session timeout (at least 1 s), and a join
# after a member left after about two: keep the session short in tests (production keeps
# aiokafka's 10 s), with heartbeats frequent enough that a busy machine does not miss one.
FAST_GROUP = {
    "session_timeout_ms": 1_000,
    "heartbeat_interval_ms": 250,
    "rebalance_timeout_ms": 500,
}
WAIT_S = 15.0


async def create_topic(kafka: KafkaConnection, topic: str, partitions: int) -> None:
    assert await bootstrap_kafka(kafka, {"test.topic": topic}, partitions=partitions) == [
        f"created topic {topic} ({partitions} partitions)"
    ]


async def take(queue: KafkaWorkQueue, n: int, timeout_s: float = WAIT_S) -> list[WorkItem]:
    """Exactly ``n`` items, waiting on the queue (never on a sleep)."""
    got: list[WorkItem] = []
    async with asyncio.timeout(timeout_s):
        while len(got) < n:
            got += await queue.receive(n - len(got))
            if len(got) < n:
                await queue.wait_ready(timeout_s)
    return got
