"""The sqs await channel against moto: the dispatch envelope as a consumer receives it, through
the outbox; completions by interaction id, correlation id and resume token; an early
completion held then applied; duplicates acked once; each poison kind dead-lettered with its
reason; a transient sink failure redelivered, not acked."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.engine.harness import TENANT, Harness, accepted, make_harness
from tests.engine.pipelines import APPROVE_STEP, BLOCKING_ID, blocking_pipeline
from tests.transports.await_channels import (
    SECRET,
    FlakySink,
    completion,
    expected_envelope,
    wire,
)
from tpf.aws.clients import AwsClients
from tpf.config.settings import Settings
from tpf.core import ids, resume_tokens
from tpf.core.errors import ConfigError
from tpf.core.records import AwaitInteraction, DispatchState, ExecutionStatus
from tpf.supervisors.await_dispatcher import AwaitDispatcher
from tpf.transports.awaits.sqs import SqsAwaitChannel, SqsChannelConfig

DONE = (ExecutionStatus.SUCCEEDED, ExecutionStatus.FAILED)


@dataclass
class Lane:
    h: Harness
    aws: AwsClients
    channel: SqsAwaitChannel
    dispatcher: AwaitDispatcher
    sink: FlakySink
    urls: dict[str, str]

    async def receive(self, name: str) -> list[dict[str, Any]]:
        sqs = await self.aws.client("sqs")
        got = await sqs.receive_message(
            QueueUrl=self.urls[name], MaxNumberOfMessages=10, WaitTimeSeconds=0
        )
        return list(got.get("Messages", []))

    async def send(self, body: bytes) -> None:
        sqs = await self.aws.client("sqs")
        await sqs.send_message(QueueUrl=self.urls["response"], MessageBody=body.decode())

    async def parked(self) -> AwaitInteraction:
        eid = await self.h.submit()
        assert (await self.h.settle(eid)).status is ExecutionStatus.WAITING_EXTERNAL
        interaction: AwaitInteraction = await self.h.pending_for(eid)
        return interaction

    async def dispatched(self) -> tuple[AwaitInteraction, dict[str, Any]]:
        interaction = await self.parked()
        assert await self.dispatcher.tick() == 1
        (message,) = await self.receive("request")
        return interaction, json.loads(message["Body"])

    async def queue_empty(self, name: str) -> bool:
        sqs = await self.aws.client("sqs")
        attributes = (
            await sqs.get_queue_attributes(QueueUrl=self.urls[name], AttributeNames=["All"])
        )["Attributes"]
        return (
            int(attributes["ApproximateNumberOfMessages"])
            + int(attributes["ApproximateNumberOfMessagesNotVisible"])
            == 0
        )


@pytest.fixture
async def lane(aws_settings: Settings, tmp_path: Path) -> AsyncIterator[Lane]:
    aws = AwsClients(aws_settings)
    sqs = await aws.client("sqs")
    urls = {
        name: (await sqs.create_queue(QueueName=f"tpf-await-{name}"))["QueueUrl"]
        for name in ("request", "response", "dlq")
    }
    h = await make_harness(tmp_path / "h")
    sink = FlakySink(h)
    config = SqsChannelConfig(
        request_queue_url=urls["request"],
        response_queue_url=urls["response"],
        dead_letter_queue_url=urls["dlq"],
        max_backoff_s=0,  # a retried message is visible again at once
    )
    metrics = h.coordinator.engine.await_metrics
    channel = SqsAwaitChannel(aws, config, sink, h.clock, metrics=metrics)
    try:
        yield Lane(h, aws, channel, wire(h, channel), sink, urls)
    finally:
        await channel.aclose()
        await h.coordinator.close()
        await aws.close()


async def test_the_dispatch_envelope_is_published_through_the_outbox_field_for_field(
    lane: Lane,
) -> None:
    interaction = await lane.parked()
    stored = await lane.h.coordinator.stores.awaits.get(TENANT, interaction.interaction_id)
    assert stored is not None and stored.dispatch_state is DispatchState.CREATED
    assert stored.transport_type == "sqs"
    assert await lane.receive("request") == []  # nothing published before the dispatcher runs
    assert await lane.dispatcher.tick() == 1
    (message,) = await lane.receive("request")
    body = json.loads(message["Body"])
    now = lane.h.clock.now_ms()
    assert list(body) == list(expected_envelope(interaction, {}, ""))  # the spec's order
    assert body == expected_envelope(
        interaction,
        {
            "adapter": "sqs",
            "requestQueueUrl": lane.urls["request"],
            "responseQueueUrl": lane.urls["response"],
            "dispatchedAtEpochMs": now,
        },
        body["resumeToken"],
    )
    assert body["requestPayload"]["orderId"]
    resume_tokens.verify(SECRET, body["resumeToken"], interaction, now)
    after = await lane.h.coordinator.stores.awaits.get(TENANT, interaction.interaction_id)
    assert after is not None and after.dispatch_state is DispatchState.DISPATCHED
    assert lane.h.coordinator.engine.await_metrics.dispatched[(after.step_id, "sqs")] == 1
    assert await lane.dispatcher.tick() == 0  # out of the outbox: not published again


async def test_a_crash_before_the_publish_is_redispatched_by_the_outbox_sweep(
    lane: Lane,
) -> None:
    interaction = await lane.parked()
    # A new dispatcher knows nothing of the park (as after a restart): the sweep finds it.
    fresh = AwaitDispatcher(lane.h.coordinator.engine, lambda i: lane.channel)
    assert await fresh.tick() == 1
    (message,) = await lane.receive("request")
    assert json.loads(message["Body"])["interactionId"] == interaction.interaction_id


@pytest.mark.parametrize("by", ["interactionId", "correlationId", "resumeToken"])
async def test_a_completion_resumes_the_execution_and_is_deleted(lane: Lane, by: str) -> None:
    interaction, envelope = await lane.dispatched()
    await lane.send(completion(interaction, by, token=envelope["resumeToken"]))
    assert await lane.channel.poll_once(wait_time_s=1) == 1
    final = await lane.h.settle(interaction.execution_id, DONE)
    assert final.status is ExecutionStatus.SUCCEEDED
    assert lane.channel.outcomes == {"admitted": 1}
    assert await lane.queue_empty("response")
    metrics = lane.h.coordinator.engine.await_metrics
    assert metrics.admitted[(interaction.step_id, "sqs")] == 1
    assert metrics.resume_released[(interaction.step_id, "sqs")] == 1


async def test_a_response_in_the_original_payload_envelope_form_is_unwrapped(
    lane: Lane,
) -> None:
    # As over REST: {"payloadTypeId", "payloadEncoding", "payload"} carries the same answer.
    interaction, _ = await lane.dispatched()
    answer = accepted(interaction.request_payload["orderId"])
    wrapped = {"payloadTypeId": interaction.output_type, "payload": json.dumps(answer)}
    await lane.send(completion(interaction, "interactionId", response=wrapped))
    assert await lane.channel.poll_once(wait_time_s=1) == 1
    final = await lane.h.settle(interaction.execution_id, DONE)
    assert final.status is ExecutionStatus.SUCCEEDED
    stored = await lane.h.coordinator.stores.awaits.get(TENANT, interaction.interaction_id)
    assert stored is not None and stored.response_payload == answer


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
        "actor": "provider",
    }
    await lane.send(json.dumps(body).encode())
    assert await lane.channel.poll_once(wait_time_s=1) == 1
    assert lane.channel.outcomes == {"held": 1}
    assert await lane.queue_empty("response")  # acked: the hold is a store row
    assert len(await h.coordinator.stores.held.list(10)) == 1
    gate.release.set()
    assert (await h.settle(eid)).status is ExecutionStatus.WAITING_EXTERNAL
    assert await h.coordinator.awaits.tick() == 1
    assert (await h.settle(eid, DONE)).status is ExecutionStatus.SUCCEEDED


async def test_an_identical_duplicate_is_acked_and_admitted_once(lane: Lane) -> None:
    interaction, _ = await lane.dispatched()
    body = completion(interaction, "interactionId")
    await lane.send(body)
    await lane.send(body)
    handled = 0
    while handled < 2:
        handled += await lane.channel.poll_once(wait_time_s=1)
    assert lane.channel.outcomes == {"admitted": 1, "duplicate": 1}
    assert lane.h.coordinator.engine.await_metrics.admitted[(interaction.step_id, "sqs")] == 1
    assert await lane.queue_empty("response") and await lane.queue_empty("dlq")


async def _dead_lettered(lane: Lane, body: bytes) -> dict[str, Any]:
    await lane.send(body)
    assert await lane.channel.poll_once(wait_time_s=1) == 1
    (message,) = await lane.receive("dlq")
    assert await lane.queue_empty("response")
    poison: dict[str, Any] = json.loads(message["Body"])
    assert poison["body"] == body.decode()
    assert poison["source"] == f"sqs:{lane.urls['response']}"
    assert poison["transport"] == "sqs"
    return poison


async def test_each_poison_kind_is_dead_lettered_with_its_reason(lane: Lane) -> None:
    interaction, envelope = await lane.dispatched()
    token = envelope["resumeToken"]
    forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    cases = [
        (b"{not json", "malformed"),
        (json.dumps({"interactionId": "x", "responsePayload": {}}).encode(), "malformed"),
        (completion(interaction, "resumeToken", token=forged), "resume_token_rejected"),
        (completion(interaction, "interactionId", response={"nonsense": 1}), "invalid_response"),
    ]
    for body, reason in cases:
        poison = await _dead_lettered(lane, body)
        assert poison["reason"] == reason, poison
    # Completed first, then a different answer: a conflict.
    await lane.send(completion(interaction, "interactionId"))
    assert await lane.channel.poll_once(wait_time_s=1) == 1
    other = completion(
        interaction,
        "interactionId",
        response={
            "declined": {
                "orderId": interaction.request_payload["orderId"],
                "declineReason": "closed",
            }
        },
    )
    assert (await _dead_lettered(lane, other))["reason"] == "conflict"
    assert lane.h.coordinator.engine.await_metrics.dropped[("sqs", "malformed")] == 2
    assert lane.h.coordinator.engine.await_metrics.dropped[("sqs", "conflict")] == 1


async def test_a_completion_of_a_timed_out_interaction_is_dead_lettered_as_terminal(
    lane: Lane,
) -> None:
    interaction, _ = await lane.dispatched()
    lane.h.clock.advance(interaction.deadline_epoch_ms - lane.h.clock.now_ms())
    await lane.h.coordinator.sweeper.tick()
    assert (await lane.h.settle(interaction.execution_id, DONE)).status is ExecutionStatus.FAILED
    poison = await _dead_lettered(lane, completion(interaction, "interactionId"))
    assert poison["reason"] == "terminal"
    assert poison["interactionId"] == interaction.interaction_id


async def test_a_token_for_an_unknown_interaction_is_dead_lettered_as_not_found(
    lane: Lane,
) -> None:
    interaction, envelope = await lane.dispatched()
    body = json.loads(completion(interaction, "resumeToken", token=envelope["resumeToken"]))
    body["tenantId"] = "another-tenant"
    poison = await _dead_lettered(lane, json.dumps(body).encode())
    assert poison["reason"] == "not_found"


async def test_a_transient_sink_failure_is_redelivered_not_acked(lane: Lane) -> None:
    interaction, _ = await lane.dispatched()
    lane.sink.fail_next = 1
    await lane.send(completion(interaction, "interactionId"))
    assert await lane.channel.poll_once(wait_time_s=1) == 1
    assert lane.channel.outcomes == {"retry": 1}
    assert not await lane.queue_empty("response")  # still there
    assert await lane.channel.poll_once(wait_time_s=1) == 1  # redelivered at once (backoff 0)
    assert lane.channel.outcomes == {"retry": 1, "admitted": 1}
    assert (await lane.h.settle(interaction.execution_id, DONE)).status is (
        ExecutionStatus.SUCCEEDED
    )
    assert await lane.queue_empty("response") and await lane.queue_empty("dlq")


def test_fifo_queues_are_refused_naming_the_field() -> None:
    with pytest.raises(ConfigError, match=r"response_queue_url=\S*q\.fifo is a FIFO queue"):
        SqsChannelConfig(request_queue_url="http://h/1/req", response_queue_url="http://h/1/q.fifo")


async def test_a_held_completion_that_never_finds_its_interaction_is_dead_lettered(
    lane: Lane,
) -> None:
    """An unknown tenant or id cannot be told from an early answer: it is held, and once the
    hold expires it is parked on the dead-letter queue as ``not_found``, the message whole."""
    h = lane.h
    body = json.dumps(
        {
            "tenantId": "no-such-tenant",
            "interactionId": "never-stored",
            "responsePayload": {"approved": True},
            "actor": "provider",
        }
    ).encode()
    await lane.send(body)
    assert await lane.channel.poll_once(wait_time_s=1) == 1
    assert lane.channel.outcomes == {"held": 1}
    assert await lane.queue_empty("response")
    await h.coordinator.awaits.tick()
    assert await lane.queue_empty("dlq")  # still held: it may yet appear
    h.clock.advance(60_000)
    await h.coordinator.awaits.tick()
    (message,) = await lane.receive("dlq")
    poison = json.loads(message["Body"])
    assert poison["reason"] == "not_found"
    assert poison["body"] == body.decode()
    assert poison["tenantId"] == "no-such-tenant"
    assert poison["interactionId"] == "never-stored"
    assert await h.coordinator.stores.held.list(10) == []
    assert h.coordinator.engine.await_metrics.dropped[("sqs", "not_found")] == 1
