"""Topic admin against Tansu: bootstrap creates what is missing (with its partitions), once;
the strict-startup check names each missing topic by its key."""

from __future__ import annotations

import pytest

from tests.kafka_broker import free_port, unique
from tpf.core.errors import ConfigError
from tpf.kafka.admin import (
    bootstrap_kafka,
    check_kafka_topics,
    missing_topics,
    topic_partitions,
)
from tpf.kafka.connection import KafkaConnection


async def test_bootstrap_creates_missing_topics_with_their_partitions_once(
    kafka: KafkaConnection,
) -> None:
    work, dlq = unique("tpf-work"), unique("tpf-execution-dlq")
    topics = {"kafka.work-topic": work, "kafka.dlq-topic": dlq}
    assert sorted(await missing_topics(kafka, topics)) == sorted(
        [f"topic {work} (kafka.work-topic)", f"topic {dlq} (kafka.dlq-topic)"]
    )
    with pytest.raises(ConfigError) as raised:
        await check_kafka_topics(kafka, topics)
    assert f"topic {work} (kafka.work-topic)" in str(raised.value)
    assert f"topic {dlq} (kafka.dlq-topic)" in str(raised.value)
    assert "tpf bootstrap kafka" in str(raised.value)

    created = await bootstrap_kafka(kafka, topics, partitions=3)
    assert sorted(created) == sorted(
        [f"created topic {work} (3 partitions)", f"created topic {dlq} (3 partitions)"]
    )
    partitions = await topic_partitions(kafka)
    assert partitions[work] == 3 and partitions[dlq] == 3
    assert await missing_topics(kafka, topics) == []
    await check_kafka_topics(kafka, topics)  # passes now
    assert await bootstrap_kafka(kafka, topics, partitions=3) == []  # idempotent


async def test_checking_does_not_create_the_topic(kafka: KafkaConnection) -> None:
    topic = unique("absent")
    for _ in range(2):
        assert await missing_topics(kafka, {"kafka.await.request-topic": topic}) == [
            f"topic {topic} (kafka.await.request-topic)"
        ]


async def test_an_unreachable_cluster_is_named() -> None:
    nowhere = KafkaConnection(bootstrap_servers=f"127.0.0.1:{free_port()}")
    with pytest.raises(ConfigError, match=r"cannot reach Kafka at 127\.0\.0\.1:\d+"):
        await missing_topics(nowhere, {"kafka.work-topic": "w"})


async def test_bootstrap_refuses_a_topic_without_partitions(kafka: KafkaConnection) -> None:
    with pytest.raises(ConfigError, match="at least one partition"):
        await bootstrap_kafka(kafka, {"kafka.work-topic": unique("w")}, partitions=0)
