"""The ``log`` DLQ sink: one ERROR line per terminally failed execution (spec §3.6).

Operators and the incident demo grep for ``Execution moved to DLQ:`` and the execution id, so
the line keeps the original's exact format.
"""

from __future__ import annotations

import logging

from tpf.records import DeadLetterEnvelope

LOG = logging.getLogger("tpf.dlq")


class LogDeadLetterSink:
    def __init__(self, logger: logging.Logger = LOG) -> None:
        self._logger = logger
        self.published = 0

    async def publish(self, envelope: DeadLetterEnvelope) -> None:
        self._logger.error(
            "Execution moved to DLQ: tenant=%s execution=%s transition=%s status=%s reason=%s "
            "error=%s retryable=%s retriesObserved=%d transport=%s platform=%s",
            envelope.tenant_id,
            envelope.execution_id,
            envelope.transition_key,
            envelope.terminal_status,
            envelope.terminal_reason,
            envelope.error_code,
            str(envelope.retryable).lower(),
            envelope.retries_observed,
            envelope.transport,
            envelope.platform,
        )
        self.published += 1
