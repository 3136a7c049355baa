"""What a channel's completion consumer does with one message, whatever the broker.

A message is decoded (:func:`~tpf.transports.awaits.envelopes.decode_completion`) and handed
to the :data:`CompletionSink` (the coordinator's admission path: ``Awaits.complete`` with
``hold_if_missing=True``, the same rules as REST). The :class:`Verdict` tells the channel what
to do with the message:

- ``ack``: the completion is admitted, an identical duplicate, or held durably (the sink
  returned only after the write), so the message may go (SQS delete, Kafka offset commit);
- ``poison``: the message can never be admitted (``reason`` says why): the channel parks it on
  its dead-letter queue/topic, counts it in ``tpf_await_completion_dropped_total{reason}`` and
  then acks it, so it neither loops nor is lost;
- ``retry``: a transient failure (store or broker unavailable, or anything unexpected): the
  message is *not* acked and comes back (SQS visibility, Kafka seek) after a bounded backoff.

Poison reasons (the original's labels where it had one): ``malformed``, ``not_found``,
``terminal``, ``resume_token_rejected``, ``conflict`` (a different answer to a completed
interaction), ``invalid_response`` (does not fit the await's output type).
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from tpf.core.errors import Conflict, NotFound, RetryableError, ValidationError
from tpf.transports.awaits.envelopes import CompletionEnvelope, PoisonEnvelope, decode_completion

LOG = logging.getLogger("tpf.awaits.channels")


class Admission(enum.StrEnum):
    """What the sink did with a completion (every value means: durable, ack the message)."""

    ADMITTED = "admitted"
    DUPLICATE = "duplicate"
    HELD = "held"


@dataclass(frozen=True, slots=True)
class Origin:
    """Where a completion came from: the key of the channel that read it (its dead-letter
    queue/topic parks it if it is held and never admitted) and the message as received."""

    channel: str
    body: bytes


# The coordinator's admission path for one decoded completion. Raises ValidationError /
# NotFound / Conflict for completions that can never be admitted, RetryableError (or
# StoreUnavailable) for ones worth retrying.
CompletionSink = Callable[[CompletionEnvelope, Origin], Awaitable[Admission]]


class Action(enum.StrEnum):
    ACK = "ack"
    POISON = "poison"
    RETRY = "retry"


@dataclass(frozen=True, slots=True)
class Verdict:
    action: Action
    envelope: CompletionEnvelope | None = None
    admission: Admission | None = None
    reason: str | None = None
    detail: str = ""


def _code(exc: Exception) -> str:
    return getattr(exc, "code", "") or ""


def poison_reason(exc: Exception) -> str | None:
    """The drop reason of a refusal, or ``None`` if ``exc`` is worth retrying."""
    if isinstance(exc, RetryableError):
        return None
    code = _code(exc)
    if code.startswith("RESUME_TOKEN"):
        return "resume_token_rejected"
    if isinstance(exc, NotFound):
        return "not_found"
    if isinstance(exc, Conflict):
        return "conflict"
    if isinstance(exc, ValidationError):
        return "terminal" if code == "INTERACTION_CLOSED" else "invalid_response"
    return None


async def handle(body: bytes, sink: CompletionSink, channel: str) -> Verdict:
    """Decode and admit one message read by ``channel`` (its key); never raises (the verdict
    says what happened)."""
    try:
        envelope = decode_completion(body)
    except ValidationError as exc:
        return Verdict(Action.POISON, reason="malformed", detail=str(exc))
    try:
        admission = await sink(envelope, Origin(channel, body))
    except Exception as exc:
        reason = poison_reason(exc)
        if reason is None:
            LOG.warning(
                "completion for %s not admitted, will retry: %s: %s",
                envelope.interaction_id or envelope.correlation_id or "a resume token",
                type(exc).__name__,
                exc,
            )
            return Verdict(Action.RETRY, envelope, detail=f"{type(exc).__name__}: {exc}")
        return Verdict(Action.POISON, envelope, reason=reason, detail=str(exc))
    return Verdict(Action.ACK, envelope, admission)


class Backoff:
    """Bounded exponential backoff of a transient failure: ``initial_s`` doubling to
    ``max_s``; :meth:`reset` after a success."""

    def __init__(self, initial_s: float = 0.1, max_s: float = 30.0) -> None:
        self.initial_s = initial_s
        self.max_s = max_s
        self._next = initial_s

    def next(self) -> float:
        current = self._next
        self._next = min(self.max_s, self._next * 2)
        return current

    def reset(self) -> None:
        self._next = self.initial_s


def poison_envelope(
    verdict: Verdict, body: bytes, *, source: str, transport: str, now_ms: int
) -> PoisonEnvelope:
    """What the channel parks on its dead-letter queue/topic for a poison ``verdict``."""
    envelope = verdict.envelope
    return PoisonEnvelope(
        reason=verdict.reason or "unknown",
        detail=verdict.detail,
        source=source,
        transport=transport,
        body=body.decode(errors="replace"),
        tenant_id=envelope.tenant_id if envelope else None,
        interaction_id=envelope.interaction_id if envelope else None,
        correlation_id=envelope.correlation_id if envelope else None,
        dropped_at_epoch_ms=now_ms,
    )
