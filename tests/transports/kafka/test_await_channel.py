"""The kafka await channel against Tansu: the dispatch envelope, key and headers as a consumer
receives them, through the outbox; completions by interaction id, correlation id and resume
token; an early completion held then applied; duplicates acked once; per-key order; each poison
kind dead-lettered with its reason; a transient sink failure re-read, not committed."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from tests.engine.harness import TENANT, Harness, make_harness
from tests.engine.pipelines import APPROVE_STEP, BLOCKING_ID, blocking_pipeline
from tests.kafka_broker import unique
from tests.transports.await_channels import (
    SECRET,
    FlakySink,
    completion,
    expected_envelope,
    wire,
)
from tests.transports.kafka.helpers import FAST_GROUP, WAIT_S, create_topic
from tpf.core import ids, resume_tokens
from tpf.core.errors import ConfigError
from tpf.core.records import AwaitInteraction, ExecutionStatus
from tpf.kafka.connection import KafkaConnection
from tpf.supervisors.await_dispatcher import AwaitDispatcher
from tpf.transports.awaits.kafka import KafkaAwaitChannel, KafkaChannelConfig

DONE = (ExecutionStatus.SUCCEEDED, ExecutionStatus.FAILED)


@dataclass
class Lane:
    h: Harness
    kafka: KafkaConnection
    channel: KafkaAwaitChannel
    dispatcher: AwaitDispatcher
    sink: FlakySink
    topics: dict[str, str]
    producer: Any

    async def read(self, name: str, n: int) -> list[Any]:
        """The first ``n`` records of a topic (all partitions), read outside any group."""
        consumer = AIOKafkaConsumer(
            self.topics[name], **self.kafka.client_kwargs(), auto_offset_reset="earliest"
        )
        await consumer.start()
        try:
            records: list[Any] = []
            async with asyncio.timeout(WAIT_S):
                while len(records) < n:
                    batches = await consumer.getmany(timeout_ms=500)
                    records += [r for rs in batches.values() for r in rs]
            return records
        finally:
            await consumer.stop()

    async def send(self, body: bytes, key: str | None = None) -> None:
        await self.producer.send_and_wait(
            self.topics["response"], value=body, key=key.encode() if key else None
        )

    async def handle(self, n: int) -> None:
        """Poll until the channel has handled ``n`` records (the group join comes first)."""
        handled = 0
        async with asyncio.timeout(WAIT_S):
            while handled < n:
                handled += await self.channel.poll_once(timeout_ms=200)

    async def parked(self) -> AwaitInteraction:
        eid = await self.h.submit()
        assert (await self.h.settle(eid)).status is ExecutionStatus.WAITING_EXTERNAL
        interaction: AwaitInteraction = await self.h.pending_for(eid)
        return interaction

    async def dispatched(self) -> tuple[AwaitInteraction, dict[str, Any]]:
        interaction = await self.parked()
        assert await self.dispatcher.tick() == 1
        (record,) = await self.read("request", 1)
        return interaction, json.loads(record.value)


@pytest.fixture
async def lane(kafka: KafkaConnection, tmp_path: Path) -> AsyncIterator[Lane]:
    topics = {name: unique(f"await-{name}") for name in ("request", "response", "dlq")}
    for name, partitions in (("request", 3), ("response", 2), ("dlq", 1)):
        await create_topic(kafka, topics[name], partitions)
    h = await make_harness(tmp_path / "h")
    sink = FlakySink(h)
    config = KafkaChannelConfig(
        connection=kafka,
        request_topic=topics["request"],
        response_topic=topics["response"],
        consumer_group=unique("await-group"),
        dead_letter_topic=topics["dlq"],
        headers={"x-team": "kitchen", "tpf-step-id": "not-ours-to-replace"},
        initial_backoff_s=0.0,  # a retried partition resumes on the next poll
        **FAST_GROUP,
    )
    metrics = h.coordinator.engine.await_metrics
    channel = KafkaAwaitChannel(config, sink, h.clock, metrics=metrics)
    producer = AIOKafkaProducer(**kafka.client_kwargs(), acks="all")
    await producer.start()
    try:
        yield Lane(h, kafka, channel, wire(h, channel), sink, topics, producer)
    finally:
        await producer.stop()
        await channel.aclose()
        await h.coordinator.close()


async def test_the_dispatch_record_has_the_envelope_key_and_headers(lane: Lane) -> None:
    interaction = await lane.parked()
    assert await lane.dispatcher.tick() == 1
    (record,) = await lane.read("request", 1)
    body = json.loads(record.value)
    now = lane.h.clock.now_ms()
    expected = expected_envelope(
        interaction,
        {
            "adapter": "kafka",
            "requestTopic": lane.topics["request"],
            "responseTopic": lane.topics["response"],
            "keyStrategy": "interactionId",
            "key": interaction.interaction_id,
            "consumerGroup": lane.channel.config.consumer_group,
            "dispatchedAtEpochMs": now,
        },
        body["resumeToken"],
    )
    assert list(body) == list(expected) and body == expected
    resume_tokens.verify(SECRET, body["resumeToken"], interaction, now)
    assert record.key == interaction.interaction_id.encode()
    assert [(k, v.decode()) for k, v in record.headers] == [
        ("tpf-tenant-id", TENANT),
        ("tpf-execution-id", interaction.execution_id),
        ("tpf-interaction-id", interaction.interaction_id),
        ("tpf-correlation-id", interaction.correlation_id),
        ("tpf-step-id", interaction.step_id),
        ("tpf-response-topic", lane.topics["response"]),
        ("x-team", "kitchen"),
    ]
    assert lane.h.coordinator.engine.await_metrics.dispatched[(interaction.step_id, "kafka")] == 1


@pytest.mark.parametrize("by", ["interactionId", "correlationId", "resumeToken"])
async def test_a_completion_resumes_the_execution(lane: Lane, by: str) -> None:
    interaction, envelope = await lane.dispatched()
    await lane.send(completion(interaction, by, token=envelope["resumeToken"]))
    await lane.handle(1)
    assert (await lane.h.settle(interaction.execution_id, DONE)).status is (
        ExecutionStatus.SUCCEEDED
    )
    assert lane.channel.outcomes == {"admitted": 1}
    assert lane.channel.lag() and sum(lane.channel.lag().values()) == 0


async def test_an_early_completion_is_held_durably_then_applied(lane: Lane) -> None:
    h = lane.h
    pipeline, gate = blocking_pipeline(with_await=True)
    await h.release(pipeline)
    eid = (await h.coordinator.submit(TENANT, BLOCKING_ID, {"value": "v1"})).execution_id
    await gate.entered.wait()
    interaction_id = ids.interaction_id(TENANT, eid, APPROVE_STEP, 1, 0)
    body = {
        "tenantId": TENANT,
        "interactionId": interaction_id,
        "responsePayload": {"approved": True, "note": "ok"},
    }
    await lane.send(json.dumps(body).encode(), key=interaction_id)
    await lane.handle(1)
    assert lane.channel.outcomes == {"held": 1}
    assert len(await h.coordinator.stores.held.list(10)) == 1
    gate.release.set()
    assert (await h.settle(eid)).status is ExecutionStatus.WAITING_EXTERNAL
    assert await h.coordinator.awaits.tick() == 1
    assert (await h.settle(eid, DONE)).status is ExecutionStatus.SUCCEEDED


async def test_same_key_completions_apply_in_partition_order(lane: Lane) -> None:
    """The first of two answers wins and the second is a conflict, dead-lettered; an identical
    third is a duplicate, acked once."""
    interaction, _ = await lane.dispatched()
    key = interaction.interaction_id
    first = completion(interaction, "interactionId")
    declined = {
        "declined": {"orderId": interaction.request_payload["orderId"], "declineReason": "closed"}
    }
    await lane.send(first, key=key)
    await lane.send(completion(interaction, "interactionId", response=declined), key=key)
    await lane.send(first, key=key)
    await lane.handle(3)
    assert lane.channel.outcomes == {"admitted": 1, "poison": 1, "duplicate": 1}
    (poison,) = await lane.read("dlq", 1)
    assert json.loads(poison.value)["reason"] == "conflict"
    final = await lane.h.settle(interaction.execution_id, DONE)
    assert final.status is ExecutionStatus.SUCCEEDED
    assert lane.h.coordinator.engine.await_metrics.admitted[(interaction.step_id, "kafka")] == 1


async def test_each_poison_kind_is_dead_lettered_with_its_reason(lane: Lane) -> None:
    interaction, envelope = await lane.dispatched()
    token = envelope["resumeToken"]
    forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    unknown = json.loads(completion(interaction, "resumeToken", token=token))
    unknown["tenantId"] = "another-tenant"
    cases = [
        (b"\xff not json", "malformed"),
        (json.dumps({"tenantId": TENANT, "interactionId": "x"}).encode(), "malformed"),
        (completion(interaction, "resumeToken", token=forged), "resume_token_rejected"),
        (json.dumps(unknown).encode(), "not_found"),
        (completion(interaction, "interactionId", response={"nonsense": 1}), "invalid_response"),
    ]
    for body, _ in cases:
        await lane.send(body, key="one-partition")
    await lane.handle(len(cases))
    records = await lane.read("dlq", len(cases))
    got = [json.loads(r.value) for r in records]
    assert [g["reason"] for g in got] == [reason for _, reason in cases]
    assert got[0]["body"] == b"\xff not json".decode(errors="replace")
    assert all(g["source"].startswith(f"kafka:{lane.topics['response']}/") for g in got)
    assert lane.h.coordinator.engine.await_metrics.dropped[("kafka", "malformed")] == 2
    assert lane.h.coordinator.engine.await_metrics.dropped[("kafka", "not_found")] == 1


async def test_a_transient_sink_failure_is_read_again_not_committed(lane: Lane) -> None:
    interaction, _ = await lane.dispatched()
    lane.sink.fail_next = 1
    await lane.send(completion(interaction, "interactionId"), key=interaction.interaction_id)
    await lane.handle(1)  # the failure handles nothing; the same record comes again
    assert lane.channel.outcomes == {"retry": 1, "admitted": 1}
    assert lane.sink.calls == 2
    assert (await lane.h.settle(interaction.execution_id, DONE)).status is (
        ExecutionStatus.SUCCEEDED
    )


def test_an_unknown_key_strategy_is_refused_naming_the_field(kafka: KafkaConnection) -> None:
    with pytest.raises(ConfigError, match="key_strategy=executionId"):
        KafkaChannelConfig(
            connection=kafka, request_topic="a", response_topic="b", key_strategy="executionId"
        )


async def test_a_held_completion_refused_when_its_interaction_appears_is_dead_lettered(
    lane: Lane,
) -> None:
    """Held early, then the interaction appears with a different answer already admitted over
    REST: the held one is a conflict, parked on the dead-letter topic, the hold deleted."""
    h = lane.h
    pipeline, gate = blocking_pipeline(with_await=True)
    await h.release(pipeline)
    eid = (await h.coordinator.submit(TENANT, BLOCKING_ID, {"value": "v1"})).execution_id
    await gate.entered.wait()
    interaction_id = ids.interaction_id(TENANT, eid, APPROVE_STEP, 1, 0)
    body = json.dumps(
        {
            "tenantId": TENANT,
            "interactionId": interaction_id,
            "responsePayload": {"approved": False},
        }
    ).encode()
    await lane.send(body, key=interaction_id)
    await lane.handle(1)
    assert lane.channel.outcomes == {"held": 1}
    gate.release.set()
    assert (await h.settle(eid)).status is ExecutionStatus.WAITING_EXTERNAL
    await h.coordinator.complete(TENANT, interaction_id=interaction_id, response={"approved": True})
    assert await h.coordinator.awaits.retry_held() == 0
    (record,) = await lane.read("dlq", 1)
    poison = json.loads(record.value)
    assert (poison["reason"], poison["body"]) == ("conflict", body.decode())
    assert await h.coordinator.stores.held.list(10) == []
    assert h.coordinator.engine.await_metrics.dropped[("kafka", "conflict")] == 1
