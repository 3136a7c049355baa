"""Await transport authoring: the typed specs, the spec's mapping form, and clear refusals."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from tpf import InteractionApi, Kafka, Pipeline, Sqs
from tpf.authoring.await_transports import parse_transport
from tpf.core.errors import ValidationError

STD = "http://127.0.0.1:4566/000000000000/approvals"


class Order(msgspec.Struct):
    order_id: str


class Decision(msgspec.Struct):
    ok: bool


def awaiting(transport: Any = None) -> Pipeline:
    p = Pipeline("com.example.t")
    p.await_step(
        "Wait", step_id="Wait", output=Decision, timeout="PT1M", input=Order, transport=transport
    )
    return p


def test_unpinned_await_keeps_todays_transport_name_and_no_spec() -> None:
    step = awaiting().steps[0]
    assert step.transport == "interaction-api" and step.transport_spec is None


@pytest.mark.parametrize(
    ("given", "kind"),
    [
        (InteractionApi(), "interaction-api"),
        ("interaction-api", "interaction-api"),
        (Sqs(STD + "-req", STD + "-res"), "sqs"),
        (Kafka("req", "res"), "kafka"),
    ],
)
def test_a_pinned_transport_is_kept_on_the_step(given: Any, kind: str) -> None:
    step = awaiting(given).steps[0]
    assert step.transport == kind
    assert step.transport_spec == parse_transport(given)


def test_kafka_defaults_and_headers() -> None:
    spec = Kafka("req", "res", headers={"b": "2", "a": "1"})
    assert (spec.key, spec.consumer_group) == ("interactionId", None)
    assert spec.header_map() == {"a": "1", "b": "2"}
    assert spec == Kafka("req", "res", headers={"a": "1", "b": "2"})  # order-independent
    assert hash(spec) == hash(Kafka("req", "res", headers={"a": "1", "b": "2"}))


def test_mapping_form_nested_or_dotted() -> None:
    nested = parse_transport(
        {
            "type": "kafka",
            "request": {"topic": "req", "key": "correlationId"},
            "response": {"topic": "res"},
            "consumer": {"group": "g"},
            "headers": {"x": "y"},
        }
    )
    dotted = parse_transport(
        {
            "type": "kafka",
            "request.topic": "req",
            "request.key": "correlationId",
            "response.topic": "res",
            "consumer.group": "g",
            "headers": {"x": "y"},
        }
    )
    assert (
        nested
        == dotted
        == Kafka("req", "res", key="correlationId", consumer_group="g", headers={"x": "y"})
    )
    sqs = parse_transport(
        {"type": "sqs", "request": {"queueUrl": STD + "-a"}, "response": {"queueUrl": STD}}
    )
    assert sqs == Sqs(STD + "-a", STD)
    assert parse_transport({"type": "interaction-api"}) == InteractionApi()


@pytest.mark.parametrize(
    ("build", "field", "message"),
    [
        (lambda: Sqs(STD + ".fifo", STD), "request_queue_url", "FIFO queue"),
        (lambda: Sqs(STD, STD + ".fifo"), "response_queue_url", "FIFO queue"),
        (lambda: Sqs("", STD), "request_queue_url", "non-blank"),
        (lambda: Kafka("req", " "), "response_topic", "non-blank"),
        (lambda: Kafka("req", "res", key="orderId"), "key", "interactionId, correlationId"),
        (lambda: Kafka("req", "res", headers={"tpf-step-id": "x"}), "headers", "reserved"),
        (lambda: Kafka("req", "res", headers={"x": 1}), "headers", "string values"),  # type: ignore[dict-item]
        (
            lambda: parse_transport({"type": "kafka", "request": {"topic": "r"}}),
            "response.topic",
            "response.topic is required",
        ),
        (
            lambda: parse_transport(
                {
                    "type": "sqs",
                    "request.queueUrl": STD,
                    "response.queueUrl": STD,
                    "request.topic": "x",
                }
            ),
            "request.topic",
            "unknown field 'request.topic'",
        ),
        (lambda: parse_transport({"type": "webhook"}), "type", "webhook is not supported"),
        (lambda: parse_transport({"request": {"topic": "r"}}), "type", "needs a 'type'"),
        (lambda: parse_transport({"type": "rabbit"}), "type", "'rabbit' is not one of"),
        (lambda: parse_transport("kafka"), "transport", "needs its queues/topics"),
        (lambda: parse_transport(42), "transport", "got int"),
        (
            lambda: parse_transport(
                {"type": "kafka", "request.topic": "a", "response.topic": "b", "headers": "x"}
            ),
            "headers",
            "mapping",
        ),
    ],
)
def test_bad_transports_are_refused_naming_the_field(build: Any, field: str, message: str) -> None:
    with pytest.raises(ValidationError, match=message) as caught:
        build()
    assert caught.value.details == {"field": field}


def test_await_step_names_itself_in_a_transport_error() -> None:
    with pytest.raises(ValidationError, match=r"await step 'Wait': sqs transport: .*FIFO"):
        awaiting({"type": "sqs", "request.queueUrl": STD + ".fifo", "response.queueUrl": STD})
