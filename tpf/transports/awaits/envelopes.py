"""The broker envelopes of await channels (spec §4.7), wire-compatible with the original's.

- :class:`DispatchEnvelope`: what an await request looks like on the request queue/topic
  (``KafkaAwaitDispatchEnvelope`` / ``SqsAwaitDispatchEnvelope``: the same fields, the channel's
  own ``transportMetadata``). Kafka also carries the ``tpf-*`` headers (:func:`kafka_headers`)
  and a record key chosen by the key strategy (:func:`kafka_key`).
- :class:`CompletionEnvelope`: what a provider answers on the response queue/topic.
  :func:`decode_completion` is strict about what it needs (``tenantId``; one of
  ``interactionId``, ``correlationId``, ``resumeToken``; ``responsePayload``) and names the bad
  field in its error; members it does not know are ignored, as the original's Jackson mapping
  does, so a provider adding a field does not have its answers dead-lettered.
- :class:`PoisonEnvelope`: what a channel publishes to its dead-letter queue/topic when it
  cannot admit a completion: the reason, the original body (as text), where it came from.
"""

from __future__ import annotations

from typing import Any

import msgspec

from tpf.core.errors import ValidationError
from tpf.core.records import AwaitInteraction

KEY_STRATEGIES = ("interactionId", "correlationId")


class _Wire(msgspec.Struct, frozen=True, kw_only=True, rename="camel", omit_defaults=False):
    """camelCase JSON, every field written (``null`` included), as the original's records."""


class DispatchEnvelope(_Wire, frozen=True, kw_only=True):
    """An await request as published; field order is the spec's."""

    tenant_id: str
    execution_id: str
    interaction_id: str
    correlation_id: str
    step_id: str
    deadline_epoch_ms: int
    input_type: str | None = None
    output_type: str | None = None
    resume_token: str | None = None
    request_payload: Any = None
    transport_metadata: dict[str, Any] = msgspec.field(default_factory=dict)


def dispatch_envelope(
    interaction: AwaitInteraction,
    transport_metadata: dict[str, Any],
    *,
    resume_token: str | None = None,
    input_type: str | None = None,
) -> DispatchEnvelope:
    return DispatchEnvelope(
        tenant_id=interaction.tenant_id,
        execution_id=interaction.execution_id,
        interaction_id=interaction.interaction_id,
        correlation_id=interaction.correlation_id,
        step_id=interaction.step_id,
        deadline_epoch_ms=interaction.deadline_epoch_ms,
        input_type=input_type,
        output_type=interaction.output_type,
        resume_token=resume_token,
        request_payload=interaction.request_payload,
        transport_metadata=transport_metadata,
    )


def encode(value: msgspec.Struct) -> bytes:
    return msgspec.json.encode(value)


def kafka_key(envelope: DispatchEnvelope, strategy: str) -> str:
    """The request record's key: the interaction id or the correlation id."""
    if strategy == "interactionId":
        return envelope.interaction_id
    if strategy == "correlationId":
        return envelope.correlation_id
    raise ValueError(f"request key strategy {strategy!r} is not one of {', '.join(KEY_STRATEGIES)}")


def kafka_headers(
    envelope: DispatchEnvelope, response_topic: str, extra: dict[str, str] | None = None
) -> list[tuple[str, bytes]]:
    """The original's ``tpf-*`` headers, then the authored ones (which cannot replace ours: a
    consumer routes on them)."""
    ours = [
        ("tpf-tenant-id", envelope.tenant_id),
        ("tpf-execution-id", envelope.execution_id),
        ("tpf-interaction-id", envelope.interaction_id),
        ("tpf-correlation-id", envelope.correlation_id),
        ("tpf-step-id", envelope.step_id),
        ("tpf-response-topic", response_topic),
    ]
    taken = {name for name, _ in ours}
    authored = [(k, v) for k, v in (extra or {}).items() if k not in taken]
    return [(name, value.encode()) for name, value in ours + authored]


class CompletionEnvelope(_Wire, frozen=True, kw_only=True):
    """A provider's answer to an await request (blank strings read as absent)."""

    tenant_id: str
    interaction_id: str | None = None
    correlation_id: str | None = None
    resume_token: str | None = None
    idempotency_key: str | None = None
    response_payload: Any = None
    actor: str | None = None


_completion = msgspec.json.Decoder(CompletionEnvelope)


def _blank_to_none(value: str | None) -> str | None:
    return value.strip() or None if value is not None else None


def decode_completion(body: bytes | str) -> CompletionEnvelope:
    """The envelope in ``body``; ``ValidationError`` naming the field if it is not one."""
    if isinstance(body, str):
        body = body.encode()
    if not body.strip():
        raise ValidationError("completion envelope: the body is empty")
    try:
        raw = _completion.decode(body)
    except msgspec.ValidationError as exc:
        # msgspec names the member: "Expected `str`, got `int` - at `$.tenantId`".
        raise ValidationError(f"completion envelope: {exc}") from None
    except (msgspec.DecodeError, RecursionError) as exc:
        raise ValidationError(f"completion envelope: not JSON: {exc}") from None
    tenant = _blank_to_none(raw.tenant_id)
    if tenant is None:
        raise ValidationError("completion envelope: tenantId is required (at `$.tenantId`)")
    envelope = msgspec.structs.replace(
        raw,
        tenant_id=tenant,
        interaction_id=_blank_to_none(raw.interaction_id),
        correlation_id=_blank_to_none(raw.correlation_id),
        resume_token=_blank_to_none(raw.resume_token),
    )
    if not (envelope.interaction_id or envelope.correlation_id or envelope.resume_token):
        raise ValidationError(
            "completion envelope: one of interactionId, correlationId or resumeToken is required"
        )
    if envelope.response_payload is None:
        raise ValidationError(
            "completion envelope: responsePayload is required (at `$.responsePayload`)"
        )
    return envelope


class PoisonEnvelope(_Wire, frozen=True, kw_only=True):
    """A completion a channel could not admit, as parked on its dead-letter queue/topic.

    ``body`` is the message as received (decoded as UTF-8, undecodable bytes replaced), so an
    operator can fix and re-send it; ``source`` says where it came from (``sqs:<queue url>`` or
    ``kafka:<topic>/<partition>@<offset>``).
    """

    reason: str
    detail: str
    source: str
    transport: str
    body: str
    tenant_id: str | None = None
    interaction_id: str | None = None
    correlation_id: str | None = None
    dropped_at_epoch_ms: int = 0
