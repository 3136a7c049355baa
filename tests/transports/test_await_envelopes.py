"""Await broker envelopes (spec §4.7) as pure values: the dispatch envelope field for field,
Kafka key and headers, strict completion decoding naming the bad field, poison reasons."""

from __future__ import annotations

import json

import pytest

from tpf.core.errors import Conflict, NotFound, StoreUnavailable, ValidationError
from tpf.core.records import AwaitInteraction, InteractionStatus
from tpf.transports.awaits.consume import poison_reason
from tpf.transports.awaits.envelopes import (
    decode_completion,
    dispatch_envelope,
    encode,
    kafka_headers,
    kafka_key,
)

INTERACTION = AwaitInteraction(
    tenant_id="t1",
    execution_id="e1",
    step_id="await-decision",
    step_index=2,
    output_type="RestaurantDecision",
    interaction_id="i1",
    correlation_id="c1",
    causation_id="e1:2",
    idempotency_key="e1:await-decision",
    unit_id="u1",
    status=InteractionStatus.DISPATCHED,
    request_payload={"orderId": "o1"},
    deadline_epoch_ms=1_800_000,
)


def test_the_dispatch_envelope_has_the_spec_fields_in_order() -> None:
    envelope = dispatch_envelope(
        INTERACTION, {"adapter": "sqs"}, resume_token="tok", input_type="PendingApproval"
    )
    assert json.loads(encode(envelope)) == {
        "tenantId": "t1",
        "executionId": "e1",
        "interactionId": "i1",
        "correlationId": "c1",
        "stepId": "await-decision",
        "deadlineEpochMs": 1_800_000,
        "inputType": "PendingApproval",
        "outputType": "RestaurantDecision",
        "resumeToken": "tok",
        "requestPayload": {"orderId": "o1"},
        "transportMetadata": {"adapter": "sqs"},
    }
    assert list(json.loads(encode(envelope)))[:3] == ["tenantId", "executionId", "interactionId"]


def test_kafka_key_follows_the_strategy_and_headers_keep_ours_first() -> None:
    envelope = dispatch_envelope(INTERACTION, {})
    assert kafka_key(envelope, "interactionId") == "i1"
    assert kafka_key(envelope, "correlationId") == "c1"
    with pytest.raises(ValueError, match="executionId"):
        kafka_key(envelope, "executionId")
    headers = kafka_headers(envelope, "responses", {"tpf-tenant-id": "evil", "x": "y"})
    assert headers == [
        ("tpf-tenant-id", b"t1"),
        ("tpf-execution-id", b"e1"),
        ("tpf-interaction-id", b"i1"),
        ("tpf-correlation-id", b"c1"),
        ("tpf-step-id", b"await-decision"),
        ("tpf-response-topic", b"responses"),
        ("x", b"y"),
    ]


def test_the_original_completion_envelope_decodes() -> None:
    body = {
        "tenantId": "csv-demo",
        "interactionId": None,
        "correlationId": "c1",
        "resumeToken": None,
        "idempotencyKey": None,
        "responsePayload": {"ok": 1},
        "actor": "provider",
        "somethingNew": True,
    }
    got = decode_completion(json.dumps(body))
    assert (got.tenant_id, got.interaction_id, got.correlation_id) == ("csv-demo", None, "c1")
    assert got.response_payload == {"ok": 1} and got.actor == "provider"


@pytest.mark.parametrize(
    ("body", "named"),
    [
        ("", "empty"),
        ("{", "not JSON"),
        ("[1]", "Expected `object`"),
        ('{"interactionId": "i"}', "tenantId"),
        ('{"tenantId": " ", "interactionId": "i", "responsePayload": 1}', "tenantId"),
        ('{"tenantId": 7, "interactionId": "i", "responsePayload": 1}', "$.tenantId"),
        ('{"tenantId": "t", "interactionId": 5, "responsePayload": 1}', "$.interactionId"),
        (
            '{"tenantId": "t", "responsePayload": 1, "interactionId": ""}',
            "interactionId, correlationId or resumeToken",
        ),
        ('{"tenantId": "t", "interactionId": "i"}', "responsePayload"),
        ('{"tenantId": "t", "interactionId": "i", "responsePayload": null}', "responsePayload"),
        ('{"tenantId": "t", "interactionId": "i", "responsePayload": 1, "actor": []}', "$.actor"),
    ],
)
def test_a_bad_completion_is_refused_naming_the_field(body: str, named: str) -> None:
    with pytest.raises(ValidationError, match="completion envelope") as caught:
        decode_completion(body)
    assert named in str(caught.value)


@pytest.mark.parametrize(
    ("exc", "reason"),
    [
        (NotFound("gone"), "not_found"),
        (Conflict("other answer", code="INTERACTION_ALREADY_COMPLETED"), "conflict"),
        (ValidationError("closed", code="INTERACTION_CLOSED"), "terminal"),
        (ValidationError("bad token", code="RESUME_TOKEN_INVALID"), "resume_token_rejected"),
        (ValidationError("bad response"), "invalid_response"),
        (StoreUnavailable("down"), None),
        (RuntimeError("unexpected"), None),  # not known to be poison: retried, never lost
    ],
)
def test_refusals_map_to_drop_reasons_and_transient_ones_to_retry(
    exc: Exception, reason: str | None
) -> None:
    assert poison_reason(exc) == reason


def test_await_metrics_render_with_the_original_names_and_labels() -> None:
    from prometheus_client import CollectorRegistry, generate_latest

    from tpf.transports.awaits.metrics import AwaitMetrics

    metrics = AwaitMetrics()
    metrics.dispatched[("await-decision", "kafka")] += 2
    metrics.dropped[("sqs", "conflict")] += 1
    metrics.observe_latency("await-decision", "kafka", 42.0)

    class _Collector:
        def collect(self):  # type: ignore[no-untyped-def]
            return metrics.collect()

    registry = CollectorRegistry()
    registry.register(_Collector())  # type: ignore[arg-type]
    text = generate_latest(registry).decode()
    labels = 'step="await-decision",transport="kafka"'
    for line in (
        f"tpf_await_interaction_dispatched_total{{{labels}}} 2.0",
        'tpf_await_completion_dropped_total{reason="conflict",transport="sqs"} 1.0',
        f'tpf_await_completion_latency_bucket{{le="25",{labels}}} 0.0',
        f'tpf_await_completion_latency_bucket{{le="50",{labels}}} 1.0',
        f"tpf_await_completion_latency_sum{{{labels}}} 42.0",
    ):
        assert line in text
