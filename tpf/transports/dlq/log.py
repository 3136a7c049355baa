"""The ``log`` DLQ sink: one ERROR line per terminally failed execution (spec §3.6).

Operators and the incident demo grep for ``Execution moved to DLQ:`` and the execution id, so
the line keeps the original's exact format, and then adds what the original leaves out: the
error message (``message=``, JSON-quoted) and, when the failing step raised, its traceback on the
lines that follow (as logging prints an exception). The envelope's fields, traceback included,
are also the record's structured fields (``--log-format json``).
"""

from __future__ import annotations

import logging

import orjson

from tpf.core import events
from tpf.core.records import DeadLetterEnvelope

LOG = logging.getLogger("tpf.dlq")


class LogDeadLetterSink:
    def __init__(self, logger: logging.Logger = LOG) -> None:
        self._logger = logger
        self.published = 0

    async def start(self) -> None:
        return None

    async def aclose(self) -> None:
        return None  # a logger holds nothing to release

    async def publish(self, envelope: DeadLetterEnvelope) -> None:
        detail = f"\n{envelope.error_detail.rstrip()}" if envelope.error_detail else ""
        step, attempt = events.step_and_attempt(envelope.transition_key)
        self._logger.error(
            "Execution moved to DLQ: tenant=%s execution=%s transition=%s status=%s reason=%s "
            "error=%s retryable=%s retriesObserved=%d transport=%s platform=%s message=%s%s",
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
            orjson.dumps(envelope.error_message).decode(),
            detail,
            extra={
                "event": events.DLQ,
                "tenant": envelope.tenant_id,
                "executionId": envelope.execution_id,
                "step": step,
                "attempt": attempt,
                "reason": envelope.terminal_reason,
                "errorCode": envelope.error_code,
                "errorMessage": envelope.error_message,
                "errorDetail": envelope.error_detail,
            },
        )
        self.published += 1
