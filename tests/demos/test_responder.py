"""The broker demos' restaurant responder: its decision rule and envelopes as pure functions,
then one round trip each over a real SQS (moto's server) and a real Kafka (Tansu): a dispatch
envelope in, the completion envelope out, field for field, and the request acknowledged."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from aiobotocore.session import get_session
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from demos.restaurant_approval import decisions
from demos.restaurant_approval.pipeline import RestaurantDecision
from demos.restaurant_approval.responder import (
    Dispatch,
    DispatchError,
    KafkaResponder,
    SqsResponder,
    completion_envelope,
    iso_utc,
    kafka_clients,
    parse_dispatch,
)
from tests.kafka_broker import KafkaBroker, unique
from tpf.core import strict
from tpf.core.clock import FakeClock
from tpf.kafka.admin import bootstrap_kafka
from tpf.kafka.connection import KafkaConnection

NOW_MS = 1_760_000_000_123
DECIDED_AT = "2025-10-09T08:53:20.123Z"
ORDER_ID = "3b241101-e2bb-4255-8caf-4136c566a962"


def request(restaurant: str = "Cafe TPF", customer: str = "Ada Lovelace") -> dict[str, Any]:
    return {
        "orderId": ORDER_ID,
        "customerName": customer,
        "restaurantName": restaurant,
        "items": "Margherita Pizza",
        "totalAmount": "27.50",
        "currency": "EUR",
        "requestedAt": None,
    }


def dispatch_body(**overrides: Any) -> dict[str, Any]:
    """A dispatch envelope as the spec (§4.7) writes it, for the SQS channel."""
    body = {
        "tenantId": "restaurant-demo",
        "executionId": "exec-1",
        "interactionId": "int-1",
        "correlationId": "corr-1",
        "stepId": "ProcessAwaitRestaurantDecisionService",
        "deadlineEpochMs": NOW_MS + 1_800_000,
        "inputType": "org.pipelineframework.restaurantapproval.common.domain."
        "PendingRestaurantApproval",
        "outputType": "org.pipelineframework.restaurantapproval.common.domain.RestaurantDecision",
        "resumeToken": "tok.sig",
        "requestPayload": request(),
        "transportMetadata": {"adapter": "sqs", "dispatchedAtEpochMs": NOW_MS},
    }
    body.update(overrides)
    return body


def accepted_envelope(**overrides: Any) -> dict[str, Any]:
    envelope = {
        "tenantId": "restaurant-demo",
        "interactionId": "int-1",
        "correlationId": None,
        "resumeToken": None,
        "idempotencyKey": None,
        "responsePayload": {
            "accepted": {"orderId": ORDER_ID, "decidedAt": DECIDED_AT, "note": decisions.NOTE}
        },
        "actor": "restaurant-responder",
    }
    envelope.update(overrides)
    return envelope


# ------------------------------------------------------------------------ decisions, envelopes


@pytest.mark.parametrize(
    ("restaurant", "customer", "decision"),
    [
        ("Cafe TPF", "Ada Lovelace", "accepted"),
        ("Bistro Queue", "Grace Hopper", "declined"),  # the REST demo's declined order
        ("Cafe TPF", "Please Decline", "declined"),
        ("Declined Diner", "Ada Lovelace", "declined"),
    ],
)
def test_decide_accepts_unless_the_kitchen_is_closed_or_a_name_says_decline(
    restaurant: str, customer: str, decision: str
) -> None:
    assert decisions.decide(request(restaurant, customer)) == decision


@pytest.mark.parametrize("decision", ["accepted", "declined"])
def test_the_answer_decodes_strictly_as_the_awaits_output_type(decision: str) -> None:
    payload = decisions.decision_payload(ORDER_ID, decision, DECIDED_AT)  # type: ignore[arg-type]
    # The coordinator's own strict check of an answer (undeclared fields refused).
    decoded = strict.validate(payload, RestaurantDecision, root="responsePayload")
    member = getattr(decoded, decision)
    assert member.order_id == ORDER_ID and member.decided_at == DECIDED_AT
    other = "declined" if decision == "accepted" else "accepted"
    assert getattr(decoded, other) is None


def test_decision_payload_refuses_other_decisions() -> None:
    with pytest.raises(ValueError, match="accepted or declined"):
        decisions.decision_payload(ORDER_ID, "maybe", DECIDED_AT)  # type: ignore[arg-type]


def test_iso_utc_keeps_milliseconds() -> None:
    assert iso_utc(NOW_MS) == DECIDED_AT


def test_parse_dispatch_reads_the_spec_envelope() -> None:
    dispatch = parse_dispatch(json.dumps(dispatch_body()))
    assert dispatch == Dispatch(
        tenant_id="restaurant-demo",
        execution_id="exec-1",
        interaction_id="int-1",
        correlation_id="corr-1",
        step_id="ProcessAwaitRestaurantDecisionService",
        resume_token="tok.sig",
        request=request(),
        transport_metadata={"adapter": "sqs", "dispatchedAtEpochMs": NOW_MS},
    )


def test_parse_dispatch_reads_a_payload_envelope_request_too() -> None:
    wrapped = {
        "payloadTypeId": "x.PendingRestaurantApproval",
        "payloadEncoding": "application/tpf-transition+json",
        "payload": json.dumps(request()),
    }
    assert parse_dispatch(json.dumps(dispatch_body(requestPayload=wrapped))).request == request()


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("not json", "not JSON"),
        ("[1]", "expected a JSON object"),
        (json.dumps(dispatch_body(tenantId=" ")), "tenantId is required"),
        (
            json.dumps({k: v for k, v in dispatch_body().items() if k != "interactionId"}),
            "interactionId is required",
        ),
        (
            json.dumps({k: v for k, v in dispatch_body().items() if k != "requestPayload"}),
            "requestPayload is required",
        ),
        (
            json.dumps(dispatch_body(requestPayload={"customerName": "x"})),
            "requestPayload.orderId is required",
        ),
        (
            json.dumps(
                dispatch_body(requestPayload={"payloadEncoding": "text/plain", "payload": ""})
            ),
            "requestPayload.payloadEncoding",
        ),
    ],
)
def test_parse_dispatch_names_what_is_wrong(body: str, message: str) -> None:
    with pytest.raises(DispatchError, match=message):
        parse_dispatch(body)


def test_the_completion_envelope_field_for_field_by_each_reference() -> None:
    dispatch = parse_dispatch(json.dumps(dispatch_body()))
    clock = FakeClock(NOW_MS)
    by_id = completion_envelope(dispatch, clock)
    assert by_id == accepted_envelope()
    assert list(by_id) == list(accepted_envelope())  # the spec's field order
    assert completion_envelope(dispatch, clock, reference="correlationId") == accepted_envelope(
        interactionId=None, correlationId="corr-1"
    )
    assert completion_envelope(dispatch, clock, reference="resumeToken") == accepted_envelope(
        resumeToken="tok.sig"
    )


def test_a_declined_order_is_answered_declined() -> None:
    dispatch = parse_dispatch(json.dumps(dispatch_body(requestPayload=request("Bistro Queue"))))
    assert completion_envelope(dispatch, FakeClock(NOW_MS))["responsePayload"] == {
        "declined": {
            "orderId": ORDER_ID,
            "decidedAt": DECIDED_AT,
            "declineReason": decisions.DECLINE_REASON,
        }
    }


def test_answering_by_token_needs_a_token() -> None:
    dispatch = parse_dispatch(json.dumps(dispatch_body(resumeToken=None)))
    with pytest.raises(DispatchError, match="resumeToken is required"):
        completion_envelope(dispatch, FakeClock(NOW_MS), reference="resumeToken")


# ------------------------------------------------------------------------ over a real SQS


async def test_sqs_round_trip_answers_and_deletes_the_request(moto_endpoint: str) -> None:
    async with get_session().create_client(
        "sqs", endpoint_url=moto_endpoint, region_name="us-east-1"
    ) as sqs:
        urls = [
            (await sqs.create_queue(QueueName=unique(name)))["QueueUrl"]
            for name in ("restaurant-requests", "restaurant-responses")
        ]
        request_url, response_url = urls
        await sqs.send_message(QueueUrl=request_url, MessageBody=json.dumps(dispatch_body()))
        await sqs.send_message(QueueUrl=request_url, MessageBody="{not a dispatch")
        published: list[str] = []
        responder = SqsResponder(
            sqs,
            request_url,
            response_url,
            FakeClock(NOW_MS),
            on_published=lambda d, _: published.append(d.execution_id),
        )
        answered = 0
        async with asyncio.timeout(20):
            while answered < 1:
                answered += await responder.run_once(wait_s=1)
            got = await sqs.receive_message(
                QueueUrl=response_url, MaxNumberOfMessages=10, WaitTimeSeconds=5
            )
        assert [json.loads(m["Body"]) for m in got["Messages"]] == [accepted_envelope()]
        assert published == ["exec-1"]
        # Both requests were acknowledged: the answered one and the one it could not answer.
        attributes = (await sqs.get_queue_attributes(QueueUrl=request_url, AttributeNames=["All"]))[
            "Attributes"
        ]
        left = int(attributes["ApproximateNumberOfMessages"])
        left += int(attributes["ApproximateNumberOfMessagesNotVisible"])
        assert left == 0


# ------------------------------------------------------------------------ over a real Kafka


async def test_kafka_round_trip_keeps_the_key_and_commits(kafka_broker: KafkaBroker) -> None:
    servers = kafka_broker.bootstrap_servers
    request_topic, response_topic = unique("restaurant-req"), unique("restaurant-resp")
    group = unique("restaurant-responder")
    connection = KafkaConnection(bootstrap_servers=servers, client_id="tpf-test")
    await bootstrap_kafka(connection, {"req": request_topic, "resp": response_topic})
    producer = AIOKafkaProducer(**connection.client_kwargs())
    await producer.start()
    try:
        body = dispatch_body(transportMetadata={"adapter": "kafka", "key": "int-1"})
        await producer.send_and_wait(request_topic, json.dumps(body).encode(), key=b"int-1")
    finally:
        await producer.stop()
    async with kafka_clients(servers, request_topic, group) as (consumer, answers):
        responder = KafkaResponder(consumer, answers, response_topic, FakeClock(NOW_MS))
        answered = 0
        async with asyncio.timeout(30):
            while answered < 1:
                answered += await responder.run_once(timeout_ms=500)
        partition = next(iter(consumer.assignment()))
        assert await consumer.committed(partition) == 1
    reader = AIOKafkaConsumer(
        response_topic, auto_offset_reset="earliest", **connection.client_kwargs()
    )
    await reader.start()
    try:
        async with asyncio.timeout(30):
            record = await reader.getone()
    finally:
        await reader.stop()
    assert record.key == b"int-1"
    assert json.loads(record.value) == accepted_envelope()
