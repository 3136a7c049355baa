"""The completion sink of broker channels: a decoded envelope into the one admission path.

:func:`completion_sink` gives the SQS and Kafka channels a
:data:`~tpf.transports.awaits.consume.CompletionSink` over :meth:`Awaits.complete
<tpf.supervisors.awaits.Awaits.complete>`, so a broker completion is admitted exactly like a
REST one (first writer wins, identical duplicates acknowledged, the response validated
against the await's output type):

- by ``interactionId`` or ``correlationId``: with ``hold_if_missing``, so one that arrives
  before its interaction is stored is held durably (the sink returns after the hold is
  written, and only then does the channel ack the message); the hold keeps the message and
  the channel it came from, whose dead-letter queue/topic parks it if it is never admitted;
- by ``resumeToken``, as the REST edge does: the token's claims (or the id the envelope also
  gives) find the interaction, the signature and every claim must match the stored record;
  an expired but genuine token still goes through completion, which times the interaction out.
  A token completion is never held: a token is issued only with the dispatch of a stored
  interaction, so its interaction missing is not an early answer, and a hold would be
  admitted later without the token being checked.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from tpf.core import codec, resume_tokens
from tpf.core import crash_points as cp
from tpf.core.clock import Clock
from tpf.core.errors import NotFound, ValidationError
from tpf.core.records import AwaitInteraction, HeldCompletion
from tpf.stores.base import AwaitStore
from tpf.supervisors.awaits import Awaits, DeadLetterHeld
from tpf.transports.awaits.consume import Action, Admission, CompletionSink, Origin, Verdict
from tpf.transports.awaits.envelopes import CompletionEnvelope, decode_completion
from tpf.transports.base import AwaitChannel

LOG = logging.getLogger("tpf.awaits")


def completion_sink(
    awaits: Awaits, store: AwaitStore, clock: Clock, resume_secret: str | None
) -> CompletionSink:
    async def sink(envelope: CompletionEnvelope, origin: Origin) -> Admission:
        interaction_id, correlation_id = envelope.interaction_id, envelope.correlation_id
        hold = True
        if envelope.resume_token is not None:
            target = await _token_target(store, clock, resume_secret, envelope)
            interaction_id, correlation_id, hold = target.interaction_id, None, False
        # Like REST: plain JSON, or the original's payload envelope (payloadTypeId, payload).
        _, response = codec.decode_payload(envelope.response_payload, field="responsePayload")
        cp.crash_point(cp.COMPLETION_CONSUMED)  # received from the transport, not admitted
        completion = await awaits.complete(
            envelope.tenant_id,
            interaction_id=interaction_id,
            correlation_id=correlation_id,
            response=response,
            actor=envelope.actor,
            hold_if_missing=hold,
            origin=origin,
        )
        if completion.held:
            return Admission.HELD
        return Admission.DUPLICATE if completion.duplicate else Admission.ADMITTED

    return sink


async def _token_target(
    store: AwaitStore, clock: Clock, secret: str | None, envelope: CompletionEnvelope
) -> AwaitInteraction:
    token = envelope.resume_token
    assert token is not None
    if secret is None:
        raise ValidationError(
            "resumeToken: resume tokens need pipeline.orchestrator.resume-token-secret to be "
            "configured on the coordinator",
            code=resume_tokens.CODE_INVALID,
        )
    tenant = envelope.tenant_id
    if envelope.interaction_id:
        found = await store.get(tenant, envelope.interaction_id)
    elif envelope.correlation_id:
        found = await store.get_by_correlation(tenant, envelope.correlation_id)
    else:  # the token's own claim is only a lookup hint until it verifies against the record
        found = await store.get(tenant, resume_tokens.peek(token).interaction_id)
    if found is None:
        raise NotFound(f"Await interaction not found for resumeToken (tenant {tenant})")
    try:
        resume_tokens.verify(secret, token, found, clock.now_ms())
    except ValidationError as exc:
        if exc.code != resume_tokens.CODE_EXPIRED:
            raise
    return found


def held_dead_letter(
    channel_of: Callable[[str | None], AwaitChannel | None],
) -> DeadLetterHeld:
    """How the awaits supervisor parks a held completion that will never be admitted: on the
    dead-letter queue/topic of the channel that read it (``channel_of`` its key)."""

    async def park(item: HeldCompletion, reason: str, detail: str) -> bool:
        channel = channel_of(item.channel)
        if channel is None or item.body is None:
            # Held by a channel this coordinator does not run (or by an older build): the log
            # line is all that is left of it.
            LOG.error(
                "held completion for %s dropped (%s; channel %s not run here): %s; body %s",
                item.handle,
                reason,
                item.channel,
                detail,
                item.body,
            )
            return True
        body = item.body.encode()
        try:
            envelope: CompletionEnvelope | None = decode_completion(body)
        except ValidationError:
            envelope = None
        return await channel.dead_letter(
            Verdict(Action.POISON, envelope, reason=reason, detail=detail), body
        )

    return park
