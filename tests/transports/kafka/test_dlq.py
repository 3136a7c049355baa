"""KafkaDeadLetterSink against Tansu: the spec §3.6 envelope as published, keyed by execution;
failures raise RetryableError for the dead-letters supervisor to retry."""

from __future__ import annotations

import asyncio
import json

import pytest
from aiokafka import AIOKafkaConsumer

from tests.kafka_broker import free_port, unique
from tests.transports.kafka.helpers import WAIT_S, create_topic
from tpf.core.errors import RetryableError
from tpf.core.records import DeadLetterEnvelope
from tpf.kafka.connection import KafkaConnection
from tpf.transports.dlq.kafka import KafkaDeadLetterSink
from tpf.transports.dlq.sqs import _spec_body

ENVELOPE = DeadLetterEnvelope(
    tenant_id="restaurant-demo",
    execution_id="exec-1",
    execution_key="order-1",
    correlation_id="order-1",
    transition_key="exec-1:3:0",
    transport="REST",
    error_code="TransitionWorkerFailureException",
    error_message="kitchen on fire",
    retries_observed=3,
    created_at_epoch_ms=1_760_000_002_000,
    error_detail="Traceback (most recent call last): ...",  # ours: not published
)

# The Java record's field names, in the spec's order (§3.6), with the values above.
PUBLISHED = {
    "tenantId": "restaurant-demo",
    "executionId": "exec-1",
    "executionKey": "order-1",
    "correlationId": "order-1",
    "transitionKey": "exec-1:3:0",
    "resourceType": "tpf.orchestrator.execution",
    "resourceName": "OrchestratorService/Run",
    "transport": "REST",
    "platform": "COMPUTE",
    "terminalStatus": "FAILED",
    "terminalReason": "retry_exhausted",
    "errorCode": "TransitionWorkerFailureException",
    "errorMessage": "kitchen on fire",
    "retryable": True,
    "retriesObserved": 3,
    "createdAtEpochMs": 1_760_000_002_000,
}


async def test_the_envelope_is_published_field_for_field_keyed_by_execution(
    kafka: KafkaConnection,
) -> None:
    topic = unique("dlq")
    await create_topic(kafka, topic, partitions=3)
    sink = KafkaDeadLetterSink(kafka, topic)
    await sink.start()
    try:
        await sink.publish(ENVELOPE)
        await sink.publish(ENVELOPE)  # a retried publish lands on the same partition
    finally:
        await sink.aclose()
    assert sink.published == 2

    consumer = AIOKafkaConsumer(topic, **kafka.client_kwargs(), auto_offset_reset="earliest")
    await consumer.start()
    try:
        records = []
        async with asyncio.timeout(WAIT_S):
            while len(records) < 2:
                batches = await consumer.getmany(timeout_ms=1_000)
                records += [r for rs in batches.values() for r in rs]
    finally:
        await consumer.stop()
    assert [r.key for r in records] == [b"exec-1", b"exec-1"]
    assert len({r.partition for r in records}) == 1
    body = json.loads(records[0].value)
    assert list(body) == list(PUBLISHED)
    assert body == PUBLISHED
    # Byte for byte what the SQS sink sends: one encoding for both.
    assert records[0].value.decode() == _spec_body(ENVELOPE)


async def test_an_unreachable_broker_raises_retryable_naming_the_execution() -> None:
    nowhere = KafkaConnection(bootstrap_servers=f"127.0.0.1:{free_port()}")
    sink = KafkaDeadLetterSink(nowhere, "tpf-execution-dlq", publish_timeout_s=2.0)
    with pytest.raises(RetryableError, match="could not connect"):
        await sink.start()
    with pytest.raises(RetryableError, match="exec-1"):
        await sink.publish(ENVELOPE)
    assert sink.published == 0
    await sink.aclose()


async def test_a_closed_sink_refuses_to_publish(kafka: KafkaConnection) -> None:
    sink = KafkaDeadLetterSink(kafka, unique("dlq"))
    await sink.start()
    await sink.aclose()
    await sink.aclose()  # idempotent
    with pytest.raises(RetryableError, match="closed"):
        await sink.publish(ENVELOPE)


def test_a_sink_needs_a_topic() -> None:
    with pytest.raises(ValueError, match="topic"):
        KafkaDeadLetterSink(KafkaConnection(bootstrap_servers="127.0.0.1:9092"), "")
