"""The dead-letters supervisor: publishes DLQ envelopes from the durable "to publish" mark.

A terminal failure appends its envelope to the execution record's outbox in the same write as
the ``FAILED`` status; this supervisor publishes it to the configured sink and only then removes
it. A crash between commit and publish therefore loses nothing (the envelope is published
after restart); a crash between publish and clear publishes it twice, which is the right side
to err on for evidence.
"""

from __future__ import annotations

import logging

from tpf.actors.context import Engine
from tpf.transports.base import DeadLetterSink

LOG = logging.getLogger("tpf.dead_letters")


class DeadLetters:
    def __init__(self, engine: Engine, sink: DeadLetterSink) -> None:
        self._engine = engine
        self._sink = sink

    async def tick(self) -> int:
        engine = self._engine
        executions = engine.stores.executions
        published = 0
        for record in await executions.find_dead_letters(engine.settings.dead_letter_batch):
            for envelope in record.dead_letters:  # oldest first
                try:
                    await self._sink.publish(envelope)
                except Exception:
                    engine.counters["dlq_publish_failures"] += 1
                    LOG.exception("DLQ publish failed for %s; will retry", envelope.execution_id)
                    # The sink is down: try again on the next pass.
                    engine.counters["dlq_published"] += published
                    return published
                await executions.clear_dead_letter(
                    record.tenant_id, record.execution_id, envelope.transition_key
                )
                published += 1
        engine.counters["dlq_published"] += published
        return published
