"""The original's transition envelopes (spec §7.1): literal JSON in, the same JSON out, and the
invariants its constructors enforce."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tpf.core.errors import NonRetryableError
from tpf.core.interactions import new_interaction
from tpf.core.records import (
    AwaitSuspension,
    TransitionCommand,
    TransitionFailure,
    TransitionOutcome,
    TransitionResult,
)
from tpf.transports.workers.local import failure_result
from tpf.transports.workers.remote.contracts import MalformedRequest
from tpf.transports.workers.remote.envelopes import (
    NON_RETRYABLE_CLASS,
    decode_command,
    decode_result,
    encode_command,
    encode_result,
)

# The spec's command example with its placeholders filled in: every field, in its order.
COMMAND = {
    "tenantId": "restaurant-demo",
    "executionId": "exec-1",
    "pipelineId": "org.pipelineframework.restaurantapproval",
    "contractVersion": "sha256:abc",
    "releaseVersion": "v1",
    "currentStepIndex": 2,
    "stopBeforeStepIndex": -1,
    "attempt": 0,
    "resultShape": "SINGLE",
    "executionVersion": 5,
    "transitionKey": "exec-1:2:0",
    "traceId": "exec-1:2:0",
    "payloadTypeId": "org.pipelineframework.restaurantapproval.Decision",
    "payloadEncoding": "application/tpf-transition+json",
    "payload": '{"accepted":true}',
}

COMPLETED = {
    "outcome": "COMPLETED",
    "outputPayloads": [
        {
            "payloadTypeId": "java.lang.String",
            "payloadEncoding": "application/tpf-transition+json",
            "payload": '"done"',
        }
    ],
    "awaitSuspension": None,
    "failure": None,
    "terminalOutputPublished": False,
    "terminalInputPassthrough": False,
}

FAILED = {
    "outcome": "FAILED",
    "outputPayloads": [],
    "awaitSuspension": None,
    "failure": {"failureClass": "java.lang.IllegalStateException", "message": "kitchen on fire"},
    "terminalOutputPublished": False,
    "terminalInputPassthrough": False,
}


def wire(data: bytes) -> Any:
    return json.loads(data)


def test_command_round_trips_the_originals_json() -> None:
    command = decode_command(json.dumps(COMMAND).encode())
    assert command.trace_id == command.transition_key == "exec-1:2:0"
    assert command.stop_before_step_index == -1
    assert command.execution_version == 5
    encoded = encode_command(command)
    assert wire(encoded) == COMMAND
    assert list(wire(encoded)) == list(COMMAND)  # and in the original's field order


def test_command_defaults_match_the_original() -> None:
    command = TransitionCommand(
        tenant_id="t",
        execution_id="e",
        pipeline_id="p",
        contract_version="c",
        release_version="r",
        current_step_index=0,
        transition_key="e:0:0",
        trace_id="e:0:0",
        payload="{}",
    )
    out = wire(encode_command(command))
    assert out["stopBeforeStepIndex"] == -1
    assert out["payloadEncoding"] == "application/tpf-transition+json"
    assert out["resultShape"] == "SINGLE"
    # An older original sends neither stopBeforeStepIndex nor what we do not read.
    older = {k: v for k, v in COMMAND.items() if k != "stopBeforeStepIndex"}
    older["bundleVersionId"] = "v1"
    assert decode_command(json.dumps(older).encode()).stop_before_step_index == -1


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"currentStepIndex": -1}, "currentStepIndex must be >= 0"),
        ({"attempt": -1}, "attempt must be >= 0"),
        ({"executionVersion": -1}, "executionVersion must be >= 0"),
        ({"transitionKey": " "}, "transitionKey must not be blank"),
        ({"payloadEncoding": "application/xml"}, "unsupported payloadEncoding"),
        ({"tenantId": None}, "malformed"),
        ({"currentStepIndex": "2"}, "malformed"),
    ],
)
def test_invalid_commands_are_malformed(change: dict[str, Any], message: str) -> None:
    with pytest.raises(MalformedRequest, match=message):
        decode_command(json.dumps({**COMMAND, **change}).encode())


@pytest.mark.parametrize("text", [b"", b"{not json", b"[]", b"null", b"[" * 100_000])
def test_text_that_is_no_envelope_is_malformed(text: bytes) -> None:
    with pytest.raises(MalformedRequest):
        decode_command(text)
    with pytest.raises(MalformedRequest):
        decode_result(text)


def test_completed_and_failed_results_round_trip() -> None:
    done = decode_result(json.dumps(COMPLETED).encode())
    assert done.outcome is TransitionOutcome.COMPLETED
    [payload] = done.output_payloads
    assert (payload.payload_type_id, payload.payload) == ("java.lang.String", '"done"')
    assert wire(encode_result(done)) == COMPLETED
    failed = decode_result(json.dumps(FAILED).encode())
    assert failed.failure is not None
    assert failed.failure.failure_class == "java.lang.IllegalStateException"
    assert failed.failure.retryable is True  # anything but ...NonRetryableException retries
    assert wire(encode_result(failed)) == FAILED


def test_failure_classes_ending_in_non_retryable_exception_are_not_retried() -> None:
    for failure_class in (NON_RETRYABLE_CLASS, "com.acme.PaymentNonRetryableException"):
        document = {**FAILED, "failure": {"failureClass": failure_class, "message": None}}
        result = decode_result(json.dumps(document).encode())
        assert result.failure is not None
        assert result.failure.retryable is False
        assert result.failure.message == failure_class  # no message: the class, as the original


def test_our_failures_carry_only_the_originals_fields() -> None:
    """The original decodes with a strict Jackson mapper: our extra fields would break it."""
    non_retryable = failure_result(NonRetryableError("rejected order 7"), retryable=False)
    out = wire(encode_result(non_retryable))
    assert out["failure"] == {"failureClass": NON_RETRYABLE_CLASS, "message": "rejected order 7"}
    assert decode_result(encode_result(non_retryable)).failure == TransitionFailure(
        failure_class=NON_RETRYABLE_CLASS, message="rejected order 7", retryable=False
    )
    retryable = TransitionResult(
        outcome=TransitionOutcome.FAILED,
        failure=TransitionFailure(
            failure_class="builtins.RuntimeError",
            message="boom",
            error_code="X",
            error_detail="Traceback ...",
        ),
    )
    assert wire(encode_result(retryable))["failure"] == {
        "failureClass": "builtins.RuntimeError",
        "message": "boom",
    }


def test_unknown_fields_of_newer_originals_are_ignored() -> None:
    document = {
        **FAILED,
        "failure": {**FAILED["failure"], "failedStepIndex": 3, "failedCommandId": "c-1"},
        "somethingNew": {"x": 1},
    }
    result = decode_result(json.dumps(document).encode())
    assert result.failure is not None and result.failure.message == "kitchen on fire"


def _suspension() -> AwaitSuspension:
    interaction = new_interaction(
        tenant_id="restaurant-demo",
        execution_id="exec-1",
        step_id="Approve",
        step_index=2,
        attempt=0,
        output_type="org.pipelineframework.restaurantapproval.Decision",
        request_payload={"orderId": "o-1"},
        key_fields=(),
        timeout_ms=60_000,
        now_ms=1_000,
    )
    return AwaitSuspension(
        tenant_id="restaurant-demo",
        execution_id="exec-1",
        unit_id=interaction.unit_id,
        step_index=2,
        interactions=(interaction,),
    )


def test_waiting_result_round_trips_without_our_interaction_fields() -> None:
    suspension = _suspension()
    result = TransitionResult(
        outcome=TransitionOutcome.WAITING_EXTERNAL, await_suspension=suspension
    )
    out = wire(encode_result(result))
    assert set(out["awaitSuspension"]) == {
        "tenantId",
        "executionId",
        "unitId",
        "stepIndex",
        "unit",
        "interactions",
    }
    [interaction] = out["awaitSuspension"]["interactions"]
    for ours in ("applied", "completedAtEpochMs", "dispatchState"):
        assert ours not in interaction
    for original in ("interactionId", "correlationId", "idempotencyKey", "deadlineEpochMs"):
        assert original in interaction
    back = decode_result(encode_result(result))
    assert back.await_suspension == suspension  # what we leave off is what the defaults say


WAITING = {
    "outcome": "WAITING_EXTERNAL",
    "outputPayloads": [],
    "awaitSuspension": {
        "tenantId": "t",
        "executionId": "e",
        "unitId": "u",
        "stepIndex": 1,
        "unit": None,
        "interactions": [],
    },
    "failure": None,
}


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({**WAITING, "awaitSuspension": None}, "WAITING_EXTERNAL requires awaitSuspension"),
        ({**WAITING, "failure": FAILED["failure"]}, "WAITING_EXTERNAL must only include"),
        ({**WAITING, "outputPayloads": COMPLETED["outputPayloads"]}, "must only include"),
        ({**FAILED, "failure": None}, "FAILED requires failure"),
        ({**FAILED, "awaitSuspension": WAITING["awaitSuspension"]}, "FAILED must only include"),
        ({**FAILED, "outputPayloads": COMPLETED["outputPayloads"]}, "FAILED must only include"),
        ({**COMPLETED, "failure": FAILED["failure"]}, "COMPLETED must include neither"),
        (
            {**COMPLETED, "awaitSuspension": WAITING["awaitSuspension"]},
            "COMPLETED must include neither",
        ),
        ({**FAILED, "terminalOutputPublished": True}, "only COMPLETED may set"),
        (
            {**COMPLETED, "terminalOutputPublished": True, "terminalInputPassthrough": True},
            "exclude each other",
        ),
        ({**COMPLETED, "terminalInputPassthrough": True}, "must not include outputPayloads"),
        ({**COMPLETED, "outcome": "SUCCEEDED"}, "malformed"),
        ({**FAILED, "failure": {"message": "no class"}}, "malformed"),
    ],
)
def test_result_invariants(document: dict[str, Any], message: str) -> None:
    with pytest.raises(MalformedRequest, match=message):
        decode_result(json.dumps(document).encode())
