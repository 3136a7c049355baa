"""The session's Tansu broker serves what the Kafka transports rely on: acks=all produce,
consumer-group assignment, and committed offsets that a restarted member resumes from."""

from __future__ import annotations

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from tests.kafka_broker import KafkaBroker, probe, unique
from tests.transports.kafka.helpers import FAST_GROUP, create_topic
from tpf.kafka.connection import KafkaConnection


def test_the_broker_answers_a_metadata_request(kafka_broker: KafkaBroker) -> None:
    assert probe(kafka_broker.host, kafka_broker.port)


def test_a_closed_port_is_not_ready() -> None:
    from tests.kafka_broker import free_port

    assert not probe("127.0.0.1", free_port(), timeout_s=0.5)


async def consume(kafka: KafkaConnection, topic: str, group: str, n: int) -> list[bytes]:
    consumer = AIOKafkaConsumer(
        topic,
        **kafka.client_kwargs(),
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        **FAST_GROUP,
    )
    await consumer.start()
    try:
        got: list[bytes] = []
        while len(got) < n:
            batches = await consumer.getmany(timeout_ms=5_000, max_records=n - len(got))
            assert batches, f"only {len(got)} of {n} records arrived"
            got += [r.value for records in batches.values() for r in records]
        await consumer.commit()
        return got
    finally:
        await consumer.stop()


async def test_produce_consume_in_a_group_and_resume_from_the_committed_offset(
    kafka: KafkaConnection,
) -> None:
    topic, group = unique("broker"), unique("group")
    await create_topic(kafka, topic, partitions=1)
    producer = AIOKafkaProducer(**kafka.client_kwargs(), acks="all")
    await producer.start()
    try:
        for n in range(3):
            await producer.send_and_wait(topic, f"v{n}".encode(), key=b"k")
        assert await consume(kafka, topic, group, 2) == [b"v0", b"v1"]
        # A new member of the same group starts after the commit: v2 only.
        assert await consume(kafka, topic, group, 1) == [b"v2"]
    finally:
        await producer.stop()

    checker = AIOKafkaConsumer(**kafka.client_kwargs(), group_id=group)
    await checker.start()
    try:
        assert await checker.committed(TopicPartition(topic, 0)) == 3
    finally:
        await checker.stop()
