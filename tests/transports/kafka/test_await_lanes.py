"""``tpf.await-transport`` switches the restaurant pipeline between REST, SQS and Kafka with no
code change: the same accepted and declined orders run three times on a coordinator opened from
configuration (``Coordinator.open``, its supervisor loops running), with the decisions arriving
over REST, over moto's SQS and over the Tansu broker.

On the broker lanes a responder plays the restaurant: it reads the dispatch envelope from the
request queue/topic and answers with the original's completion envelope on the response one.
"""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from demos.restaurant_approval.pipeline import AWAIT_STEP_ID, PIPELINE_ID, pipeline
from tests.aws import REGION, reset_moto
from tests.kafka_broker import KafkaBroker
from tests.transports.kafka.helpers import FAST_GROUP
from tpf.aws.clients import AwsClients
from tpf.config import load_settings
from tpf.config.settings import Settings
from tpf.coordinator import Coordinator
from tpf.core.records import DispatchState, ExecutionStatus
from tpf.engine.releases import build_release
from tpf.http.metrics import Metrics
from tpf.kafka.admin import bootstrap_kafka
from tpf.kafka.settings import kafka_connection

TENANT = "restaurant-lanes"
TERMINAL = (ExecutionStatus.SUCCEEDED, ExecutionStatus.FAILED)
WAIT_S = 30.0
Answer = Callable[[dict[str, Any]], Awaitable[None]]


def decision(envelope: dict[str, Any]) -> dict[str, Any]:
    """The restaurant's answer to a dispatch envelope: Bistro Queue declines, others accept."""
    order = envelope["requestPayload"]
    body = {"orderId": order["orderId"], "decidedAt": "2026-12-02T12:00:00Z"}
    if order["restaurantName"] == "Bistro Queue":
        return {"declined": body | {"declineReason": "Kitchen is closed tonight"}}
    return {"accepted": body | {"note": "See you at seven"}}


def completion(envelope: dict[str, Any]) -> bytes:
    return json.dumps(
        {
            "tenantId": envelope["tenantId"],
            "interactionId": envelope["interactionId"],
            "responsePayload": decision(envelope),
            "actor": "restaurant-responder",
        }
    ).encode()


async def run_orders(coordinator: Coordinator, answer_rest: bool) -> dict[str, str]:
    """Submit an accepted and a declined order; their outcomes once terminal."""
    worker = coordinator.host(pipeline)
    descriptor = build_release(pipeline, Path(coordinator.settings.state.dir) / "build")
    release = await coordinator.register_release(TENANT, PIPELINE_ID, str(descriptor))
    await coordinator.activate_release(TENANT, PIPELINE_ID, release.release_version)
    await coordinator.register_local_worker(TENANT, worker, "lanes-worker")
    outcomes: dict[str, str] = {}
    for restaurant in ("Cafe TPF", "Bistro Queue"):
        order = {
            "requestId": str(uuid.uuid4()),
            "customerName": "Ada Lovelace",
            "restaurantName": restaurant,
            "items": "Margherita Pizza",
            "totalAmount": "27.50",
            "currency": "EUR",
        }
        eid = (await coordinator.submit(TENANT, PIPELINE_ID, order)).execution_id
        if answer_rest:
            parked = await coordinator.wait_for(
                TENANT, eid, (ExecutionStatus.WAITING_EXTERNAL, *TERMINAL), timeout_s=WAIT_S
            )
            assert parked.status is ExecutionStatus.WAITING_EXTERNAL
            (pending,) = [
                p
                for p in await coordinator.pending(TENANT, step_id=AWAIT_STEP_ID)
                if p.execution_id == eid
            ]
            assert pending.dispatch_state is DispatchState.DISPATCHED  # REST: no outbox
            envelope = {"tenantId": TENANT, "requestPayload": pending.request_payload}
            await coordinator.complete(
                TENANT, interaction_id=pending.interaction_id, response=decision(envelope)
            )
        final = await coordinator.wait_for(TENANT, eid, TERMINAL, timeout_s=WAIT_S)
        assert final.status is ExecutionStatus.SUCCEEDED, final
        outcomes[restaurant] = str((final.result_payload or {}).get("outcome"))
    return outcomes


def embedded(tmp_path: Path, **keys: str) -> Settings:
    base = {"tpf.state-dir": str(tmp_path / "state")}
    return load_settings({}, overrides=base | keys)


EXPECTED = {"Cafe TPF": "APPROVED", "Bistro Queue": "DECLINED"}


async def test_rest_lane(tmp_path: Path) -> None:
    settings = embedded(tmp_path)
    assert settings.awaits.transport == "rest"
    async with await Coordinator.open(settings) as coordinator:
        await coordinator.start()
        assert await run_orders(coordinator, answer_rest=True) == EXPECTED


@pytest.fixture
async def sqs_urls(moto_endpoint: str) -> AsyncIterator[dict[str, str]]:
    reset_moto(moto_endpoint)
    aws = AwsClients(embedded(Path("/nonexistent"), **_sqs_keys(moto_endpoint, {})))
    try:
        sqs = await aws.client("sqs")
        yield {
            name: (await sqs.create_queue(QueueName=f"restaurant-{name}"))["QueueUrl"]
            for name in ("requests", "responses", "dead-letters")
        }
    finally:
        await aws.close()


def _sqs_keys(endpoint: str, urls: dict[str, str]) -> dict[str, str]:
    keys = {
        "pipeline.orchestrator.sqs.region": REGION,
        "pipeline.orchestrator.sqs.endpoint-override": endpoint,
    }
    if urls:
        keys |= {
            "tpf.await-transport": "sqs",
            "tpf.await.sqs.request-queue-url": urls["requests"],
            "tpf.await.sqs.response-queue-url": urls["responses"],
            "tpf.await.sqs.dead-letter-queue-url": urls["dead-letters"],
        }
    return keys


async def test_sqs_lane(tmp_path: Path, moto_endpoint: str, sqs_urls: dict[str, str]) -> None:
    settings = embedded(tmp_path, **_sqs_keys(moto_endpoint, sqs_urls))
    async with await Coordinator.open(settings) as coordinator:
        await coordinator.start()
        lane = coordinator.await_lane
        assert lane.channel.name == "sqs"
        # The key the channel gives its held completions is the one the lane knows it by.
        assert lane.channel_for_key(lane.channel.key) is lane.channel
        aws = AwsClients(settings)  # the restaurant's own client
        responder = asyncio.create_task(_sqs_responder(await aws.client("sqs"), sqs_urls))
        try:
            assert await run_orders(coordinator, answer_rest=False) == EXPECTED
        finally:
            responder.cancel()
            with pytest.raises(asyncio.CancelledError):
                await responder
            await aws.close()


async def _sqs_responder(sqs: Any, urls: dict[str, str]) -> None:
    while True:
        got = await sqs.receive_message(
            QueueUrl=urls["requests"], MaxNumberOfMessages=10, WaitTimeSeconds=1
        )
        for message in got.get("Messages", []):
            envelope = json.loads(message["Body"])
            await sqs.send_message(
                QueueUrl=urls["responses"], MessageBody=completion(envelope).decode()
            )
            await sqs.delete_message(
                QueueUrl=urls["requests"], ReceiptHandle=message["ReceiptHandle"]
            )


async def test_kafka_lane(tmp_path: Path, kafka_broker: KafkaBroker) -> None:
    prefix = f"lanes-{uuid.uuid4().hex[:8]}"
    keys = {
        "tpf.await-transport": "kafka",
        "kafka.bootstrap-servers": kafka_broker.bootstrap_servers,
        "tpf.await.kafka.request-topic": f"{prefix}-requests",
        "tpf.await.kafka.response-topic": f"{prefix}-responses",
        "tpf.await.kafka.dead-letter-topic": f"{prefix}-dead-letters",
        "tpf.await.kafka.consumer-group": f"{prefix}-coordinators",
    }
    settings = embedded(tmp_path, **keys)
    connection = kafka_connection(settings)
    topics = {k: v for k, v in keys.items() if k.endswith("-topic")}
    await bootstrap_kafka(connection, topics, partitions=2)
    async with await Coordinator.open(settings) as coordinator:
        await coordinator.start()
        lane = coordinator.await_lane
        assert lane.channel.name == "kafka"
        # The key the channel gives its held completions is the one the lane knows it by.
        assert lane.channel_for_key(lane.channel.key) is lane.channel
        responder = asyncio.create_task(_kafka_responder(connection.client_kwargs(), keys))
        try:
            assert await run_orders(coordinator, answer_rest=False) == EXPECTED
        finally:
            responder.cancel()
            with pytest.raises(asyncio.CancelledError):
                await responder
        exposed = (await Metrics(coordinator, {}).render()).decode()
    step = f'step="{AWAIT_STEP_ID}",transport="kafka"'
    assert f"tpf_await_interaction_dispatched_total{{{step}}} 2.0" in exposed
    assert f"tpf_await_completion_admitted_total{{{step}}} 2.0" in exposed
    response_topic = keys["tpf.await.kafka.response-topic"]
    # Lag is known for the partitions the completions were read from (their keys chose them).
    lag = re.findall(
        rf'tpf_await_kafka_consumer_lag{{partition="[01]",topic="{response_topic}"}} (\S+)',
        exposed,
    )
    assert lag and all(float(behind) == 0.0 for behind in lag)  # everything was read


async def _kafka_responder(client: dict[str, Any], keys: dict[str, str]) -> None:
    consumer = AIOKafkaConsumer(
        keys["tpf.await.kafka.request-topic"],
        group_id=f"{keys['tpf.await.kafka.consumer-group']}-restaurant",
        auto_offset_reset="earliest",
        **FAST_GROUP,  # a short session: Tansu completes the join in about half of it
        **client,
    )
    producer = AIOKafkaProducer(**client)
    await consumer.start()
    await producer.start()
    try:
        async for record in consumer:
            envelope = json.loads(record.value)
            headers = dict(record.headers)
            assert headers["tpf-interaction-id"].decode() == envelope["interactionId"]
            await producer.send_and_wait(
                keys["tpf.await.kafka.response-topic"],
                completion(envelope),
                key=envelope["interactionId"].encode(),
            )
    finally:
        await producer.stop()
        await consumer.stop()
