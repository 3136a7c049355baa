"""The ``sqs`` DLQ sink (``dlq-provider=sqs``): one message per terminally failed execution.

The body is the :class:`~tpf.core.records.DeadLetterEnvelope` as JSON with the original's field
names (spec §3.6), so existing alerting and triage consumers read it unchanged. The message is
evidence for operators, not a replay source (re-drive reads the store).

``publish`` raises on any failure: the dead-letters supervisor keeps the envelope in the store's
"to publish" outbox and retries, so nothing is lost and nothing here needs to retry itself.
A retried publish after an ambiguous failure may deliver the envelope twice; consumers can
dedupe on ``transitionKey``.
"""

from __future__ import annotations

from typing import Any, Protocol, cast

import msgspec

from tpf.aws.clients import AwsClients, error_code
from tpf.config.settings import Settings
from tpf.core.errors import RetryableError
from tpf.core.records import DeadLetterEnvelope


def _spec_body(envelope: DeadLetterEnvelope) -> str:
    """The envelope's JSON without our ``errorDetail`` (a traceback), so the message has exactly
    the original's fields; the traceback is on the execution record (``errorDetail``)."""
    fields = msgspec.to_builtins(envelope)
    fields.pop("errorDetail", None)
    return msgspec.json.encode(fields).decode()


class _SqsSend(Protocol):
    async def send_message(self, **kwargs: Any) -> dict[str, Any]: ...


class SqsDeadLetterSink:
    def __init__(self, aws: AwsClients, settings: Settings) -> None:
        if not settings.sqs.dlq_url:
            raise ValueError("SqsDeadLetterSink needs settings.dlq_url")
        self._aws = aws
        self._url = settings.sqs.dlq_url
        self.published = 0

    async def start(self) -> None:
        return None

    async def aclose(self) -> None:
        return None  # nothing of its own to release (the shared AWS clients close last)

    async def publish(self, envelope: DeadLetterEnvelope) -> None:
        body = _spec_body(envelope)
        sqs = cast(_SqsSend, await self._aws.client("sqs"))
        try:
            await sqs.send_message(QueueUrl=self._url, MessageBody=body)
        except Exception as exc:
            raise RetryableError(
                f"DLQ publish of execution {envelope.execution_id} to {self._url} failed: "
                f"{error_code(exc) or type(exc).__name__}: {exc}"
            ) from exc
        self.published += 1
