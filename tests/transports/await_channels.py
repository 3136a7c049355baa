"""Shared by the SQS and Kafka await-channel tests: a harness coordinator wired to a channel
(as the lead wires it: park into the outbox, the dispatcher, the completion sink), the
expected dispatch envelope, completion bodies and a sink that fails on demand."""

from __future__ import annotations

import json
from typing import Any

from tests.engine.harness import PIPELINE_ID, Harness, accepted
from tpf.core import interactions as inter
from tpf.core.errors import StoreUnavailable
from tpf.core.records import AwaitInteraction
from tpf.engine.await_lane import input_type
from tpf.supervisors.await_completions import completion_sink, held_dead_letter
from tpf.supervisors.await_dispatcher import AwaitDispatcher
from tpf.transports.awaits.consume import Admission, CompletionSink, Origin
from tpf.transports.awaits.envelopes import CompletionEnvelope
from tpf.transports.base import AwaitChannel

SECRET = "test-resume-secret"
_DOMAIN = PIPELINE_ID + ".common.domain."


class FlakySink:
    """The harness's real sink, failing ``fail_next`` times with StoreUnavailable first."""

    def __init__(self, h: Harness) -> None:
        c = h.coordinator
        self.inner: CompletionSink = completion_sink(c.awaits, c.stores.awaits, h.clock, SECRET)
        self.fail_next = 0
        self.calls = 0

    async def __call__(self, envelope: CompletionEnvelope, origin: Origin) -> Admission:
        self.calls += 1
        if self.fail_next:
            self.fail_next -= 1
            raise StoreUnavailable("the state store is down (test)")
        return await self.inner(envelope, origin)


def wire(h: Harness, channel: AwaitChannel) -> AwaitDispatcher:
    engine = h.coordinator.engine
    dispatcher = AwaitDispatcher(
        engine, lambda i: channel, resume_secret=SECRET, input_type=input_type
    )
    engine.route_interaction = lambda i: inter.into_outbox(i, channel.name)
    engine.interaction_stored = dispatcher.stored
    # Held completions that are never admitted are parked on this channel's dead letters.
    h.coordinator.awaits.dead_letter = held_dead_letter(
        lambda key: channel if key == channel.key else None
    )
    return dispatcher


def expected_envelope(
    interaction: AwaitInteraction, metadata: dict[str, Any], token: str
) -> dict[str, Any]:
    """The spec §4.7 dispatch envelope of ``interaction``, keys in the spec's order."""
    return {
        "tenantId": interaction.tenant_id,
        "executionId": interaction.execution_id,
        "interactionId": interaction.interaction_id,
        "correlationId": interaction.correlation_id,
        "stepId": interaction.step_id,
        "deadlineEpochMs": interaction.deadline_epoch_ms,
        # The await step's request type, as the restaurant pipeline declares it.
        "inputType": _DOMAIN + "PendingRestaurantApproval",
        "outputType": interaction.output_type,
        "resumeToken": token,
        "requestPayload": interaction.request_payload,
        "transportMetadata": metadata,
    }


def completion(
    interaction: AwaitInteraction, by: str, *, response: Any = None, token: str | None = None
) -> bytes:
    """A completion envelope naming ``interaction`` by ``interactionId``, ``correlationId`` or
    ``resumeToken``, accepting the order unless ``response`` says otherwise."""
    body: dict[str, Any] = {
        "tenantId": interaction.tenant_id,
        "interactionId": None,
        "correlationId": None,
        "resumeToken": None,
        "idempotencyKey": None,
        "responsePayload": response or accepted(interaction.request_payload["orderId"]),
        "actor": "restaurant",
    }
    if by == "resumeToken":
        body["resumeToken"] = token
    else:
        body[by] = getattr(
            interaction, {"interactionId": "interaction_id", "correlationId": "correlation_id"}[by]
        )
    return json.dumps(body).encode()
