"""An await channel in process, for :class:`~tpf.testing.TestEnv`: a broker that outlives crashes.

``TestEnv(pipeline, broker=MemoryBroker())`` runs the coordinator's configured await channel on
a :class:`MemoryBroker` instead of SQS or Kafka: the parks go through the dispatch outbox, the
await dispatcher publishes each request (``broker.requests``, the dispatch envelopes as sent)
and marks it dispatched, and answers put on ``broker.responses`` (:meth:`MemoryBroker.respond`)
are consumed the way the SQS and Kafka consumers consume theirs:
:func:`tpf.transports.awaits.consume.handle` into the completion sink the await lane binds (the
production admission path, holds of early answers included), and a message is acknowledged only
after its verdict says it is durable. So every line between consume and apply is the production
code; only the wire is a list.

The broker is the env's (like the memory store's objects): what was published or not yet
acknowledged survives a crash. Each coordinator life gets its own :class:`MemoryAwaitChannel` on
it, gated by the life: a dead coordinator publishes, acknowledges and dead-letters nothing more,
and a message it was handling when it died is delivered again to the next one (an SQS
visibility timeout, a Kafka offset never committed). The channel consumes when it is ticked,
which the env's burst does with the supervisors, so nothing runs in the background.
"""

from __future__ import annotations

import itertools
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import msgspec

from tpf.config.await_transport import channel_key, effective_transport
from tpf.config.settings import Settings
from tpf.core.records import AwaitInteraction
from tpf.testing.life import Life
from tpf.transports.awaits.consume import Action, CompletionSink, Verdict, handle
from tpf.transports.awaits.envelopes import CompletionEnvelope, DispatchEnvelope
from tpf.transports.awaits.relay import CompletionRelay

_encode = msgspec.json.Encoder().encode
_requests = msgspec.json.Decoder(DispatchEnvelope)


@dataclass
class MemoryBroker:
    """The channel's durable side: requests published, answers not yet acknowledged, and the
    dead-letter queue. ``published`` counts the publishes of each interaction (a crash between
    a publish and its mark publishes it again: at-least-once)."""

    requests: list[bytes] = field(default_factory=list)
    responses: dict[int, bytes] = field(default_factory=dict)
    dead_letters: list[bytes] = field(default_factory=list)
    published: Counter[str] = field(default_factory=Counter)
    acked: int = 0
    _ids: itertools.count[int] = field(default_factory=itertools.count)

    def dispatched(self) -> list[DispatchEnvelope]:
        """Every request published, in order (a republished one appears again)."""
        return [_requests.decode(body) for body in self.requests]

    def respond(
        self,
        tenant_id: str,
        response: Any,
        *,
        interaction_id: str | None = None,
        correlation_id: str | None = None,
        actor: str | None = None,
    ) -> None:
        """Put an answer on the response queue (consumed on the channel's next tick)."""
        envelope = CompletionEnvelope(
            tenant_id=tenant_id,
            interaction_id=interaction_id,
            correlation_id=correlation_id,
            response_payload=response,
            actor=actor,
        )
        self.responses[next(self._ids)] = _encode(envelope)


class MemoryAwaitChannel:
    """One coordinator life's channel on ``broker`` (the :class:`~tpf.transports.base.AwaitChannel`
    protocol). ``key`` is the key of the configured spec it stands in for, so the await lane
    routes unpinned steps, and holds, to it."""

    name = "memory"
    publishes = True

    def __init__(self, broker: MemoryBroker, sink: CompletionSink, life: Life, key: str) -> None:
        self.broker = broker
        self.key = key
        self._sink = sink
        self._life = life
        self.relay: CompletionRelay | None = None  # the sink, when it is a relay to bind

    def transport_metadata(self, interaction: AwaitInteraction, now_ms: int) -> dict[str, Any]:
        return {"adapter": self.name, "dispatchedAtEpochMs": now_ms}

    async def publish(self, interaction: AwaitInteraction, envelope: DispatchEnvelope) -> None:
        self._life.check()
        self.broker.requests.append(_encode(envelope))
        self.broker.published[interaction.interaction_id] += 1

    async def dead_letter(self, verdict: Verdict, body: bytes) -> bool:
        self._life.check()
        self.broker.dead_letters.append(body)
        return True

    async def tick(self) -> int:
        """Consume every answer waiting: the messages acknowledged (admitted, duplicate, held,
        or parked as poison). One that is to be retried stays for a later tick."""
        done = 0
        for message_id, body in list(self.broker.responses.items()):
            self._life.check()
            verdict = await handle(body, self._sink, self.key)
            if verdict.action is Action.RETRY:
                continue
            if verdict.action is Action.POISON and not await self.dead_letter(verdict, body):
                continue
            self._life.check()  # died while handling it: not acknowledged, delivered again
            del self.broker.responses[message_id]
            self.broker.acked += 1
            done += 1
        return done

    async def start(self) -> None:
        return None

    async def aclose(self) -> None:
        return None


def life_channel(broker: MemoryBroker, life: Life, settings: Settings) -> MemoryAwaitChannel:
    """``life``'s channel on ``broker``, standing in for the one ``settings`` configure. Its
    completions go through ``channel.relay``, which the env binds to the coordinator's admission
    path once the coordinator exists (as :meth:`Coordinator.open` binds a broker channel's)."""
    relay = CompletionRelay()
    key = channel_key(effective_transport(None, settings))
    channel = MemoryAwaitChannel(broker, relay, life, key)
    channel.relay = relay
    return channel


__all__ = ["MemoryAwaitChannel", "MemoryBroker", "life_channel"]
