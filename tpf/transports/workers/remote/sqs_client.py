"""The coordinator side of SQS request/reply workers (spec §7.5), with response demultiplexing.

:class:`SqsWorkerTransport` sends each command envelope as a signed request message to the
request queue (``worker.sqs.request-queue-url``) and waits for the worker's signed response on the
response queue (``worker.sqs.response-queue-url``), at most ``request_timeout_s``; no response in
time is ``TransportFailure("timeout")``, a retryable failure of the transition.

**Several coordinators may share one response queue** (the original needs one per coordinator,
spec §7.5 GAP). How:

- Each transport has a random *instance tag* (:func:`~.sqs_messages.new_tag`; a restarted
  coordinator gets a new one) and its request ids are ``<tag>:<uuid>``. A worker echoes the
  request id unchanged (the original's worker too, for which it is an opaque string), and the id
  is inside the response's signed body, so it cannot be rewritten. Requests also carry the tag
  as the ``tpf-coordinator-tag`` message attribute, for whoever inspects a queue.
- One consumer per process and response queue (:class:`~.sqs_responses.SqsResponseConsumer`,
  shared by every transport on the same :class:`~tpf.aws.clients.AwsClients`) long-polls the
  queue and routes each response to the future registered for its request id, after checking
  its signature with the waiting transport's secret. A response whose signature fails is deleted
  and logged, never applied; the call keeps waiting (a forged message cannot cancel the genuine
  response) and, if it then times out, its error names the refusal.
- A response whose tag is *ours* but which nobody waits for (the call timed out, or was closed)
  is deleted and counted as ``late``: it is never put back, so it cannot loop.
- A response with *another* tag is handed back with ``ChangeMessageVisibility`` so its owner can
  receive it. Without care the coordinators would pass it around as fast as they can poll (a
  receive-count storm, which would also trip a redrive policy's ``maxReceiveCount``). Two
  things bound it:

  * the hand-back delay grows with SQS's ``ApproximateReceiveCount``, which every consumer's
    receives increase: visible again at once the first two times (its owner is most likely
    polling already; with three coordinators the third may take it first), then 1, 1, 2, 2,
    4, 4 s, capped at ``handback_max_s`` (5 s);
  * the receiver that handed something back pauses a random 0..``wait_time_s`` before its next
    receive: otherwise it, whose poll starts at once, would be the likeliest to take the same
    message again, and with a 1 s delay and 1 s polls it could lock into step with it.

  A message whose owner is gone (crashed, restarted with a new tag) would still circulate
  until the queue's retention ends, so a foreign message sent (``SentTimestamp``) longer ago
  than the request timeout plus the signature tolerance (clock skew) is deleted as
  ``expired``: its owner registered its call before the worker answered, so it has stopped
  waiting by then. That caps an orphan at about (30 s + 120 s) / 5 s + 8 receives with the
  defaults (keep a response queue's ``maxReceiveCount``, if any, above that). The request
  timeout of every coordinator sharing the queue is assumed equal (or the longest one
  configured here). With N coordinators a response costs about N-1 extra receives on average.
- Closing a consumer lets its current long polls finish rather than cancelling them: a
  cancelled receive would hide the responses it took, other coordinators' too, for the whole
  visibility timeout. That is why the default wait is the original's 1 s.

Startup (:meth:`SqsWorkerTransport.start`): the response queue's visibility timeout
(``GetQueueAttributes``, or ``visibility_timeout_s`` when configured, which receives then use) must
be at least the request timeout, the original's rule, so a response being verified is not
delivered to a second consumer meanwhile; ``.fifo`` queues are refused at construction.

SQS has no capability call: :meth:`SqsWorkerTransport.capabilities` returns the static capability
built from ``worker.sqs.pipeline-id/contract-version/release-version/artifact-*`` (spec §6.3),
passed in as ``static_capability``.
"""

from __future__ import annotations

import asyncio
from typing import Any

from tpf.aws.clients import AwsClients
from tpf.core.clock import Clock
from tpf.transports.work.sqs_batches import failure
from tpf.transports.workers.remote.contracts import TransportFailure
from tpf.transports.workers.remote.signing import DEFAULT_TOLERANCE_MS, Signer, Verifier
from tpf.transports.workers.remote.sqs_messages import (
    TAG_ATTRIBUTE,
    check_standard_queue,
    check_tag,
    encode,
    new_request_id,
    new_tag,
    sign_request,
)
from tpf.transports.workers.remote.sqs_responses import SqsResponseConsumer


class RequestIdsAreNonces:
    """The nonce guard of responses: it accepts every nonce. A response settles only the one
    call waiting for its (signed, unique) request id, and a second copy finds nobody waiting
    and is deleted as ``late``. So a replayed response can do nothing, and a bounded nonce
    memory would only refuse genuine responses once a busy coordinator filled it."""

    async def claim(self, nonce: str, expires_at_ms: int) -> bool:
        return True

    async def aclose(self) -> None:
        return None


class SqsWorkerTransport:
    protocol = "sqs"

    def __init__(
        self,
        aws: AwsClients,
        request_queue_url: str,
        response_queue_url: str,
        secret: str,
        clock: Clock,
        *,
        request_timeout_s: float = 30.0,
        wait_time_s: int = 1,
        receivers: int = 2,
        visibility_timeout_s: int | None = None,
        static_capability: bytes | None = None,
        instance_tag: str | None = None,
        tolerance_ms: int = DEFAULT_TOLERANCE_MS,
        handback_max_s: int = 5,
    ) -> None:
        self._aws = aws
        self.request_queue_url = check_standard_queue(
            "worker.sqs.request-queue-url", request_queue_url
        )
        self.response_queue_url = check_standard_queue(
            "worker.sqs.response-queue-url", response_queue_url
        )
        self._clock = clock
        self.request_timeout_s = request_timeout_s
        self.tag = check_tag(instance_tag) if instance_tag is not None else new_tag()
        self._signer = Signer(secret, clock)
        self._verifier = Verifier(secret, clock, RequestIdsAreNonces(), tolerance_ms=tolerance_ms)
        self._static_capability = static_capability
        self._tolerance_ms = tolerance_ms
        self._consumer_options: dict[str, Any] = {
            "wait_time_s": wait_time_s,
            "receivers": receivers,
            "visibility_timeout_s": visibility_timeout_s,
            "handback_max_s": handback_max_s,
        }
        self._consumer: SqsResponseConsumer | None = None
        self._closed = False
        self.sent = 0

    @property
    def consumer(self) -> SqsResponseConsumer:
        """The shared response consumer (after :meth:`start`)."""
        if self._consumer is None:
            raise RuntimeError("the SQS worker transport is not started")
        return self._consumer

    async def start(self) -> None:
        """Join the process's consumer of the response queue, check its visibility timeout
        (``ConfigError`` if shorter than the request timeout) and start it."""
        if self._consumer is not None:
            return
        if self._closed:
            raise TransportFailure("cancelled", "the SQS worker transport is closed")
        consumer = SqsResponseConsumer.shared(
            self._aws, self.response_queue_url, self._clock, **self._consumer_options
        )
        try:
            await consumer.check_visibility(self.request_timeout_s)
        except BaseException:
            consumer.release_if_unused()
            raise
        if self._consumer is not None:  # a concurrent start() won
            return
        expire_after_ms = int(self.request_timeout_s * 1000) + self._tolerance_ms
        consumer.attach(self.tag, expire_after_ms)
        self._consumer = consumer
        consumer.start()

    async def execute(self, command_envelope: bytes, timeout_s: float) -> bytes:
        """Send the request and wait for its response, at most ``timeout_s`` and never longer
        than the request timeout the visibility check was made for."""
        if self._consumer is None:
            await self.start()
        consumer = self.consumer
        try:
            command = command_envelope.decode()
        except UnicodeDecodeError:
            raise TransportFailure("malformed", "a command envelope must be UTF-8 JSON") from None
        request_id = new_request_id(self.tag)
        request = sign_request(self._signer, request_id, command)
        pending = consumer.expect(request_id, self.tag, self._verifier)
        try:
            await self._send(request_id, encode(request))
            wait_s = max(0.0, min(timeout_s, self.request_timeout_s))
            try:
                return await asyncio.wait_for(pending.future, wait_s)
            except TimeoutError:
                raise TransportFailure(
                    "timeout",
                    f"no SQS worker response to {request_id} within {wait_s:g} s"
                    + _refusals(pending.refused),
                ) from None
        finally:
            consumer.forget(request_id)
            if not pending.future.done():
                pending.future.cancel()

    async def _send(self, request_id: str, body: str) -> None:
        sqs = await self._aws.client("sqs")
        try:
            await sqs.send_message(
                QueueUrl=self.request_queue_url,
                MessageBody=body,
                MessageAttributes={TAG_ATTRIBUTE: {"DataType": "String", "StringValue": self.tag}},
            )
        except Exception as exc:
            raise TransportFailure(
                "unavailable", failure(f"SendMessage {self.request_queue_url}", exc)
            ) from exc
        self.sent += 1

    async def capabilities(self, timeout_s: float) -> bytes:
        """The static capability (SQS has no capability call, spec §6.3)."""
        if self._static_capability is None:
            raise TransportFailure(
                "unavailable",
                "SQS worker capability is not configured (worker.sqs.pipeline-id, "
                "contract-version, release-version)",
            )
        return self._static_capability

    async def aclose(self) -> None:
        """Fail this transport's waiting calls (``cancelled``) and leave the consumer; the
        last transport out stops it."""
        if self._closed:
            return
        self._closed = True
        consumer, self._consumer = self._consumer, None
        if consumer is not None:
            await consumer.detach(self.tag)


def _refusals(reasons: list[str]) -> str:
    if not reasons:
        return ""
    return (
        f" ({len(reasons)} response(s) refused: {', '.join(reasons)}; "
        "check worker.sqs.shared-secret)"
    )
