"""The original's transition envelopes as JSON (spec §7.1), identical for REST, gRPC and SQS.

``TransitionCommandEnvelope`` is :class:`~tpf.core.records.TransitionCommand` as it stands: its
fields are the original's (``traceId`` is the transition key, ``stopBeforeStepIndex`` -1 runs to
the end, ``payloadEncoding`` is ``application/tpf-transition+json``, ``payload`` the JSON text).
``TransitionResultEnvelope`` is written with the original's fields only, because the original
decodes with a plain Jackson ``ObjectMapper``, which fails on a property it does not know:

- a failure is ``{"failureClass", "message"}``. Our ``retryable``, ``errorCode`` and
  ``errorDetail`` stay on the worker's side (it logs the detail): a non-retryable failure is
  sent as the original's ``org.pipelineframework.step.NonRetryableException``, and a received
  failure is non-retryable exactly when its class name ends in ``NonRetryableException`` (the
  original also accepts subclasses it can load; a name is all a Python coordinator can check);
- an await suspension's interactions leave out the fields the coordinator adds to the
  original's ``AwaitInteractionRecord`` (``applied``, ``completedAtEpochMs``,
  ``dispatchState``): the coordinator sets them when it stores and routes the interaction.

Ours, for steps that take ``ctx: StepContext`` (issue 13): the command's ``context`` is written
only when the coordinator sends one, and the result's ``contextOutputs`` only in answer to such
a command, so neither side of the original ever sees them.

Decoding is lenient about fields it does not know (newer originals add ``failedStepIndex``...)
and strict about the invariants the original's constructors enforce: ``WAITING_EXTERNAL`` has
an ``awaitSuspension`` only, ``FAILED`` a ``failure`` only, ``COMPLETED`` neither, and only
``COMPLETED`` may set the terminal flags. Anything else, or text that is not JSON of the right
shape, is :class:`~tpf.transports.workers.remote.contracts.MalformedRequest`.
"""

from __future__ import annotations

from typing import Any

import msgspec

from tpf.core.records import (
    TRANSITION_ENCODING,
    AwaitInteraction,
    AwaitSuspension,
    PayloadEnvelope,
    TransitionCommand,
    TransitionFailure,
    TransitionOutcome,
    TransitionResult,
)
from tpf.transports.workers.remote.contracts import MalformedRequest

__all__ = [
    "NON_RETRYABLE_CLASS",
    "decode_command",
    "decode_result",
    "encode_command",
    "encode_result",
    "is_non_retryable_class",
]

NON_RETRYABLE_CLASS = "org.pipelineframework.step.NonRetryableException"
_NON_RETRYABLE_SUFFIX = "NonRetryableException"
# Ours, not the original's AwaitInteractionRecord's (spec §4.3): never on the wire.
_OWN_INTERACTION_FIELDS = ("applied", "completedAtEpochMs", "dispatchState")

_encode = msgspec.json.Encoder().encode
_command_decoder = msgspec.json.Decoder(TransitionCommand)


class _WirePayload(msgspec.Struct, rename="camel"):
    payload_type_id: str | None = None
    payload_encoding: str = TRANSITION_ENCODING
    payload: str | None = None


class _WireFailure(msgspec.Struct, rename="camel"):
    failure_class: str
    message: str | None = None


class _WireSuspension(msgspec.Struct, rename="camel"):
    tenant_id: str
    execution_id: str
    unit_id: str
    step_index: int
    interactions: tuple[AwaitInteraction, ...] = ()
    unit: dict[str, Any] | None = None


class _WireResult(msgspec.Struct, rename="camel"):
    outcome: TransitionOutcome
    output_payloads: tuple[_WirePayload, ...] | None = None
    await_suspension: _WireSuspension | None = None
    failure: _WireFailure | None = None
    terminal_output_published: bool = False
    terminal_input_passthrough: bool = False
    context_outputs: dict[str, Any] | None = None  # ours: only from our workers


_result_decoder = msgspec.json.Decoder(_WireResult)


def is_non_retryable_class(failure_class: str) -> bool:
    """Whether a worker's failure class means "do not retry" (``...NonRetryableException``)."""
    return failure_class.endswith(_NON_RETRYABLE_SUFFIX)


# --------------------------------------------------------------------------- commands


def encode_command(command: TransitionCommand) -> bytes:
    """The command envelope's JSON bytes; ``context`` and ``itemIndex`` (ours) only when set."""
    if command.context is None or command.item_index is None:
        document = msgspec.to_builtins(command)
        # The original's envelope, byte for byte, without what it does not know.
        if command.context is None:
            del document["context"]
        if command.item_index is None:
            del document["itemIndex"]
        return _encode(document)
    return _encode(command)


def decode_command(data: bytes) -> TransitionCommand:
    """The command in ``data``; :class:`MalformedRequest` if it is not a valid envelope."""
    try:
        command = _command_decoder.decode(data)
    except (msgspec.DecodeError, RecursionError) as exc:
        raise MalformedRequest(f"malformed transition command envelope: {exc}") from None
    problem = _command_problem(command)
    if problem is not None:
        raise MalformedRequest(f"invalid transition command envelope: {problem}")
    return command


def _command_problem(command: TransitionCommand) -> str | None:
    # The original's TransitionCommandEnvelope constructor refuses the same.
    if command.current_step_index < 0:
        return "currentStepIndex must be >= 0"
    if command.attempt < 0:
        return "attempt must be >= 0"
    if command.execution_version < 0:
        return "executionVersion must be >= 0"
    if not command.transition_key.strip():
        return "transitionKey must not be blank"
    if command.payload_encoding != TRANSITION_ENCODING:
        return f"unsupported payloadEncoding {command.payload_encoding!r}"
    return None


# --------------------------------------------------------------------------- results


def encode_result(result: TransitionResult) -> bytes:
    """The result envelope's JSON bytes, with the original's fields only."""
    failure = result.failure
    suspension = result.await_suspension
    document: dict[str, Any] = {
        "outcome": result.outcome.value,
        "outputPayloads": [msgspec.to_builtins(p) for p in result.output_payloads],
        "awaitSuspension": None if suspension is None else _suspension_document(suspension),
        "failure": None if failure is None else _failure_document(failure),
        "terminalOutputPublished": result.terminal_output_published,
        "terminalInputPassthrough": result.terminal_input_passthrough,
    }
    if result.context_outputs is not None:  # only for a command that carried a context
        document["contextOutputs"] = result.context_outputs
    return _encode(document)


def _failure_document(failure: TransitionFailure) -> dict[str, Any]:
    failure_class = failure.failure_class
    if not failure.retryable and not is_non_retryable_class(failure_class):
        failure_class = NON_RETRYABLE_CLASS  # how the original says "do not retry"
    return {"failureClass": failure_class, "message": failure.message}


def _suspension_document(suspension: AwaitSuspension) -> dict[str, Any]:
    interactions = []
    for interaction in suspension.interactions:
        fields = msgspec.to_builtins(interaction)
        for name in _OWN_INTERACTION_FIELDS:
            fields.pop(name, None)
        interactions.append(fields)
    return {
        "tenantId": suspension.tenant_id,
        "executionId": suspension.execution_id,
        "unitId": suspension.unit_id,
        "stepIndex": suspension.step_index,
        "unit": suspension.unit,
        "interactions": interactions,
    }


def decode_result(data: bytes) -> TransitionResult:
    """The result in ``data``; :class:`MalformedRequest` if it is not a valid envelope."""
    try:
        wire = _result_decoder.decode(data)
    except (msgspec.DecodeError, RecursionError) as exc:
        raise MalformedRequest(f"malformed transition result envelope: {exc}") from None
    outputs = wire.output_payloads or ()
    problem = _result_problem(wire, bool(outputs))
    if problem is not None:
        raise MalformedRequest(f"invalid transition result envelope: {problem}")
    suspension = wire.await_suspension
    failure = wire.failure
    return TransitionResult(
        outcome=wire.outcome,
        output_payloads=tuple(
            PayloadEnvelope(
                payload_type_id=p.payload_type_id,
                payload_encoding=p.payload_encoding,
                payload="null" if p.payload is None else p.payload,
            )
            for p in outputs
        ),
        await_suspension=None
        if suspension is None
        else AwaitSuspension(
            tenant_id=suspension.tenant_id,
            execution_id=suspension.execution_id,
            unit_id=suspension.unit_id,
            step_index=suspension.step_index,
            interactions=suspension.interactions,
            unit=suspension.unit,
        ),
        failure=None
        if failure is None
        else TransitionFailure(
            failure_class=failure.failure_class,
            # The original shows the class when a failure has no message.
            message=failure.message or failure.failure_class,
            retryable=not is_non_retryable_class(failure.failure_class),
        ),
        terminal_output_published=wire.terminal_output_published,
        terminal_input_passthrough=wire.terminal_input_passthrough,
        context_outputs=wire.context_outputs,
    )


def _result_problem(wire: _WireResult, has_outputs: bool) -> str | None:
    outcome = wire.outcome
    suspended, failed = wire.await_suspension is not None, wire.failure is not None
    if outcome is TransitionOutcome.WAITING_EXTERNAL and not suspended:
        return "WAITING_EXTERNAL requires awaitSuspension"
    if outcome is TransitionOutcome.WAITING_EXTERNAL and (has_outputs or failed):
        return "WAITING_EXTERNAL must only include awaitSuspension"
    if outcome is TransitionOutcome.FAILED and not failed:
        return "FAILED requires failure"
    if outcome is TransitionOutcome.FAILED and (has_outputs or suspended):
        return "FAILED must only include failure"
    if outcome is TransitionOutcome.COMPLETED and (suspended or failed):
        return "COMPLETED must include neither awaitSuspension nor failure"
    if outcome is not TransitionOutcome.COMPLETED and (
        wire.terminal_output_published or wire.terminal_input_passthrough
    ):
        return "only COMPLETED may set terminalOutputPublished or terminalInputPassthrough"
    if wire.terminal_output_published and wire.terminal_input_passthrough:
        return "terminalOutputPublished and terminalInputPassthrough exclude each other"
    if wire.terminal_input_passthrough and has_outputs:
        return "a terminal input passthrough must not include outputPayloads"
    return None
