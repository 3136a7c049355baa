"""The dead-letters supervisor: publishes DLQ envelopes from the durable "to publish" outbox.

A terminal failure appends its envelope to the execution record's outbox in the same write as
the ``FAILED`` status; the envelope is published to the configured sink and only then removed
from the outbox. A crash between commit and publish therefore loses nothing; a crash between
publish and removal publishes it twice, which is the right side to err on for evidence.

Two kinds of work, so coordinators sharing a store do not publish each other's envelopes twice:

- *own* envelopes, committed by this process, are published at once from memory (no index
  query): the execution actor hands each one over right after its commit;
- *orphans*, left in the outbox by a coordinator that died or whose sink failed, are found
  through the dead-letter index, but only once they are older than a grace period (the lease
  length when coordinators share DynamoDB, so their owner has had its chance; zero for the
  embedded stores, which no other process shares) and, with sweeper leadership, only by the
  leader.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from tpf.actors.context import Engine
from tpf.core import crash_points as cp
from tpf.core import events
from tpf.core.events import log_event
from tpf.core.records import DeadLetterEnvelope
from tpf.supervisors.leadership import AlwaysLeader, Leadership
from tpf.transports.base import DeadLetterSink

LOG = logging.getLogger("tpf.dead_letters")
_Key = tuple[str, str, str]  # tenant, execution, transition key


def _key(envelope: DeadLetterEnvelope) -> _Key:
    return envelope.tenant_id, envelope.execution_id, envelope.transition_key


class DeadLetters:
    def __init__(
        self, engine: Engine, sink: DeadLetterSink, leadership: Leadership | None = None
    ) -> None:
        self._engine = engine
        self._sink = sink
        self._leadership = leadership or AlwaysLeader()
        self._own: dict[_Key, DeadLetterEnvelope] = {}
        shared = engine.settings.state.provider == "dynamo"
        self._grace_ms = engine.settings.execution.lease_ms if shared else 0
        self.wake: Callable[[], None] = lambda: None  # set by the coordinator's loop

    def committed(self, envelope: DeadLetterEnvelope) -> None:
        """This process committed ``envelope`` to an outbox: publish it on the next pass."""
        self._own[_key(envelope)] = envelope
        self.wake()

    async def tick(self) -> int:
        published = 0
        for key, envelope in list(self._own.items()):
            if not await self._publish(envelope):
                return published  # the sink is down: the next pass tries again
            self._own.pop(key, None)
            published += 1
        if await self._leadership.is_leader():
            published += await self._orphans()
        return published

    async def _orphans(self) -> int:
        engine = self._engine
        cutoff = engine.clock.now_ms() - self._grace_ms
        published = 0
        for record in await engine.stores.executions.find_dead_letters(
            engine.settings.dlq.publish_batch
        ):
            for envelope in record.dead_letters:  # oldest first
                if _key(envelope) in self._own or envelope.created_at_epoch_ms > cutoff:
                    continue  # ours (published above) or its owner may still be publishing it
                if not await self._publish(envelope):
                    return published
                published += 1
        return published

    async def _publish(self, envelope: DeadLetterEnvelope) -> bool:
        engine = self._engine
        try:
            await self._sink.publish(envelope)
        except Exception:
            engine.counters["dlq_publish_failures"] += 1
            LOG.exception("DLQ publish failed for %s; will retry", envelope.execution_id)
            return False
        cp.crash_point(cp.DLQ_PUBLISH)  # published, its outbox mark not cleared
        await engine.stores.executions.clear_dead_letter(
            envelope.tenant_id, envelope.execution_id, envelope.transition_key
        )
        cp.crash_point(cp.DLQ_CLEAR)
        engine.counters["dlq_published"] += 1
        engine.metrics.dlq_published(envelope, engine.settings.dlq.provider)
        if LOG.isEnabledFor(logging.DEBUG):
            step, attempt = events.step_and_attempt(envelope.transition_key)
            ids = (envelope.tenant_id, envelope.execution_id, step, attempt)
            sink = type(self._sink).__name__
            log_event(LOG, logging.DEBUG, events.DLQ_PUBLISHED, *ids, sink=sink)
        return True
