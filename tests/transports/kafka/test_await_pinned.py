"""A pipeline whose await steps use two brokers at once: one step pins a Kafka transport, the
next pins none and takes the coordinator's configured SQS lane. Each request leaves on its own
channel, each decision comes back on its own (the restaurant answers on both), and the
execution finishes; the interactions record which channel carried them."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.kafka_broker import KafkaBroker
from tests.transports.kafka.test_await_lanes import (
    _kafka_responder,
    _sqs_keys,
    _sqs_responder,
    embedded,
)
from tests.transports.kafka.test_await_lanes import sqs_urls as sqs_urls  # the fixture
from tpf.authoring.await_transports import Kafka
from tpf.authoring.pipeline import Pipeline
from tpf.aws.clients import AwsClients
from tpf.coordinator import Coordinator
from tpf.core import ids
from tpf.core.records import ExecutionStatus
from tpf.engine.releases import build_release
from tpf.kafka.admin import bootstrap_kafka
from tpf.kafka.settings import kafka_connection

TENANT = "two-brokers"


def two_broker_pipeline(prefix: str) -> Pipeline:
    p = Pipeline(f"{prefix}.orders")

    @p.step("Prepare")
    async def prepare(order: dict[str, Any]) -> dict[str, Any]:
        return order

    p.await_step(
        "Quote",
        step_id="Quote",
        output=dict,
        timeout="PT1H",
        transport=Kafka(f"{prefix}-quote-requests", f"{prefix}-quote-responses"),
    )

    @p.step("Carry")
    async def carry(decision: dict[str, Any]) -> dict[str, Any]:
        body = decision.get("accepted") or decision["declined"]
        return {"orderId": body["orderId"], "restaurantName": "Cafe TPF"}

    p.await_step("Approve", step_id="Approve", output=dict, timeout="PT1H")  # pins none

    @p.step("Finish")
    async def finish(decision: dict[str, Any]) -> dict[str, Any]:
        return {"outcome": "APPROVED" if "accepted" in decision else "DECLINED"}

    return p


async def test_one_execution_over_a_pinned_kafka_step_and_the_sqs_lane(
    tmp_path: Path, moto_endpoint: str, sqs_urls: dict[str, str], kafka_broker: KafkaBroker
) -> None:
    prefix = f"pinned-{uuid.uuid4().hex[:8]}"
    keys = _sqs_keys(moto_endpoint, sqs_urls) | {
        "kafka.bootstrap-servers": kafka_broker.bootstrap_servers,
        "tpf.await.kafka.consumer-group": f"{prefix}-coordinators",
    }
    settings = embedded(tmp_path, **keys)
    connection = kafka_connection(settings)
    kafka_keys = {
        "tpf.await.kafka.request-topic": f"{prefix}-quote-requests",
        "tpf.await.kafka.response-topic": f"{prefix}-quote-responses",
        "tpf.await.kafka.consumer-group": f"{prefix}-coordinators",
    }
    await bootstrap_kafka(
        connection, {k: v for k, v in kafka_keys.items() if k.endswith("-topic")}, partitions=1
    )
    pipeline = two_broker_pipeline(prefix)
    async with await Coordinator.open(settings) as coordinator:
        worker = coordinator.host(pipeline)  # opens the Kafka channel the Quote step pins
        assert [c.name for c in coordinator.await_lane.channels()] == ["sqs", "kafka"]
        await coordinator.start()
        descriptor = build_release(pipeline, tmp_path / "build")
        release = await coordinator.register_release(TENANT, pipeline.pipeline_id, str(descriptor))
        await coordinator.activate_release(TENANT, pipeline.pipeline_id, release.release_version)
        await coordinator.register_local_worker(TENANT, worker, "two-brokers-worker")
        aws = AwsClients(settings)
        responders = [
            asyncio.create_task(_kafka_responder(connection.client_kwargs(), kafka_keys)),
            asyncio.create_task(_sqs_responder(await aws.client("sqs"), sqs_urls)),
        ]
        try:
            order = {"orderId": "o-1", "restaurantName": "Cafe TPF"}
            eid = (await coordinator.submit(TENANT, pipeline.pipeline_id, order)).execution_id
            final = await coordinator.wait_for(
                TENANT, eid, (ExecutionStatus.SUCCEEDED, ExecutionStatus.FAILED), timeout_s=30
            )
        finally:
            for task in responders:
                task.cancel()
            for task in responders:
                with pytest.raises(asyncio.CancelledError):
                    await task
            await aws.close()
        assert final.status is ExecutionStatus.SUCCEEDED, final
        assert final.result_payload == {"outcome": "APPROVED"}
        carried = {}
        for step_id, index in (("Quote", 1), ("Approve", 3)):
            iid = ids.interaction_id(TENANT, eid, step_id, index, 0)
            stored = await coordinator.stores.awaits.get(TENANT, iid)
            assert stored is not None
            carried[step_id] = (stored.transport_type, stored.transport_metadata["channel"])
    assert carried["Quote"][0] == "kafka" and f"{prefix}-quote-requests" in carried["Quote"][1]
    assert carried["Approve"] == ("sqs", f"sqs:{sqs_urls['requests']}>{sqs_urls['responses']}")
