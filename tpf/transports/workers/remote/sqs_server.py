"""The worker side of SQS request/reply (``worker.sqs.server-enabled``, spec §7.5).

:class:`SqsWorkerServer` long-polls the request queue and, for each message:

1. decodes it as the original's request message; not one → **deleted** (``malformed``);
2. verifies its signature (METHOD ``SQS``, PATH ``/pipeline/worker/transitions/sqs/request``, BODY
   ``requestId + "\\n" + commandEnvelope``); refused (missing, stale, forged, replayed) →
   **deleted** (``unauthenticated``, the reason in :attr:`SqsWorkerServer.refusals`), never
   answered: an unauthenticated sender learns nothing;
3. a protocol version or command encoding other than the original's → deleted (``malformed``);
4. hands the command envelope to the :class:`~.contracts.WorkerHandler`; if the handler raises,
   the result is a ``FAILED`` envelope naming the error (``failed``) so the coordinator retries
   now instead of after its request timeout;
5. sends the signed response to the worker's response queue (``worker.sqs.response-queue-url``),
   echoing the request's ``tpf-coordinator-tag`` attribute, then deletes the request.

Differences from the original, on purpose:

- The nonce is claimed when the signature is verified, not after processing (the
  :class:`~.signing.Verifier` does it, and the guard may be shared by every replica). So a
  request redelivered after this worker died mid-transition, or whose delete failed, is refused
  as replayed rather than run a second time; its coordinator times out and retries with a new
  request. If the response cannot be sent, the request is deleted all the same (its nonce is
  spent, so a redelivery could only be dropped).
- Up to ``max_messages`` (10) requests per receive instead of one, processed concurrently, never
  more than ``concurrency`` (10) at once: a receive asks only for as many as there are free
  slots, so no request waits invisible in a local buffer.

A handler that runs longer than the request queue's visibility timeout lets the request be
received again meanwhile; it is then refused as replayed (its nonce is spent), so it costs one
receive, not a second run. Polling starts after ``poll_start_delay_s``
(``worker.sqs.poll-start-delay``). :meth:`SqsWorkerServer.aclose` stops polling once the current
long poll returns (at most ``wait_time_s``, the original's 1 s) and waits for the requests in
flight to be answered: a drain.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from typing import Any

import orjson

from tpf.aws.clients import AwsClients
from tpf.core.clock import Clock
from tpf.transports.work.sqs_batches import failure
from tpf.transports.workers.remote.contracts import (
    ENVELOPE_ENCODING,
    PROTOCOL_VERSION,
    MalformedRequest,
    WorkerHandler,
)
from tpf.transports.workers.remote.nonces import MemoryNonceGuard, NonceGuard
from tpf.transports.workers.remote.signing import (
    DEFAULT_TOLERANCE_MS,
    SignatureRejected,
    Signer,
    Verifier,
)
from tpf.transports.workers.remote.sqs_messages import (
    TAG_ATTRIBUTE,
    SqsRequest,
    check_standard_queue,
    decode_request,
    encode,
    sign_response,
    verify_request,
)

LOG = logging.getLogger("tpf.workers.sqs")
_BACKOFF_MAX_S = 30.0
# The original's failure classes: a Python error has no Java class, and neither is the
# ``...NonRetryableException`` that would stop the coordinator from retrying.
MALFORMED_FAILURE_CLASS = "java.lang.IllegalArgumentException"
ERROR_FAILURE_CLASS = "java.lang.IllegalStateException"


def failed_envelope(failure_class: str, message: str) -> str:
    """A minimal ``FAILED`` result envelope (spec §7.1)."""
    return orjson.dumps(
        {"outcome": "FAILED", "failure": {"failureClass": failure_class, "message": message}}
    ).decode()


class SqsWorkerServer:
    def __init__(
        self,
        aws: AwsClients,
        request_queue_url: str,
        response_queue_url: str,
        handler: WorkerHandler,
        secret: str,
        clock: Clock,
        *,
        nonces: NonceGuard | None = None,
        tolerance_ms: int = DEFAULT_TOLERANCE_MS,
        wait_time_s: int = 1,
        max_messages: int = 10,
        concurrency: int = 10,
        poll_start_delay_s: float = 0.0,
    ) -> None:
        self._aws = aws
        self.request_queue_url = check_standard_queue(
            "worker.sqs.request-queue-url", request_queue_url
        )
        self.response_queue_url = check_standard_queue(
            "worker.sqs.response-queue-url", response_queue_url
        )
        self._handler = handler
        self._signer = Signer(secret, clock)
        self._verifier = Verifier(
            secret, clock, nonces or MemoryNonceGuard(clock), tolerance_ms=tolerance_ms
        )
        self._wait_s = max(1, min(20, wait_time_s))  # 0 would poll in a tight loop
        self._max_messages = max(1, min(10, max_messages))
        self._concurrency = max(1, concurrency)
        self._start_delay_s = max(0.0, poll_start_delay_s)
        self._inflight: set[asyncio.Task[None]] = set()
        self._slot = asyncio.Event()  # an in-flight request finished
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        # processed / failed / malformed / unauthenticated / send_failed
        self.outcomes: Counter[str] = Counter()
        self.refusals: Counter[str] = Counter()  # unauthenticated, by SignatureRejected.reason

    async def start(self) -> None:
        if self._task is None and not self._closed:
            self._task = asyncio.create_task(self._run(), name="tpf-sqs-worker-poller")

    async def _run(self) -> None:
        if self._start_delay_s:
            await self._pause(self._start_delay_s)
        backoff = 1.0
        while not self._closed:
            free = self._concurrency - len(self._inflight)
            if free <= 0:
                self._slot.clear()
                await self._slot.wait()
                continue
            try:
                messages = await self._receive(min(free, self._max_messages), self._wait_s)
            except Exception as exc:
                LOG.warning(
                    "%s; retrying in %.0f s",
                    failure(f"ReceiveMessage {self.request_queue_url}", exc),
                    backoff,
                )
                await self._pause(backoff)
                backoff = min(_BACKOFF_MAX_S, backoff * 2)
                continue
            backoff = 1.0
            for message in messages:
                task = asyncio.create_task(self._process(message))
                self._inflight.add(task)
                task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._inflight.discard(task)
        self._slot.set()

    async def _pause(self, seconds: float) -> None:
        """Sleep, but return at once when the server closes."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop.wait(), seconds)

    async def poll_once(self, wait_time_s: int | None = None) -> int:
        """One receive and every request in it answered or dropped; their number."""
        messages = await self._receive(
            self._max_messages, self._wait_s if wait_time_s is None else wait_time_s
        )
        await asyncio.gather(*(self._process(message) for message in messages))
        return len(messages)

    async def _receive(self, count: int, wait_s: int) -> list[dict[str, Any]]:
        sqs = await self._aws.client("sqs")
        response = await sqs.receive_message(
            QueueUrl=self.request_queue_url,
            MaxNumberOfMessages=count,
            WaitTimeSeconds=wait_s,
            MessageAttributeNames=[TAG_ATTRIBUTE],
        )
        return list(response.get("Messages", []))

    async def _process(self, message: dict[str, Any]) -> None:
        receipt = str(message["ReceiptHandle"])
        try:
            request = decode_request(str(message.get("Body", "")))
        except MalformedRequest as exc:
            await self._drop(receipt, "malformed", f"message {message.get('MessageId')}: {exc}")
            return
        try:
            await verify_request(self._verifier, request)
        except SignatureRejected as exc:
            self.refusals[exc.reason] += 1
            await self._drop(receipt, "unauthenticated", f"{request.request_id}: {exc.reason}")
            return
        if request.protocol_version != PROTOCOL_VERSION:
            await self._drop(
                receipt,
                "malformed",
                f"{request.request_id}: protocolVersion={request.protocol_version!r}",
            )
            return
        if request.command_encoding != ENVELOPE_ENCODING:
            await self._drop(
                receipt,
                "malformed",
                f"{request.request_id}: commandEncoding={request.command_encoding!r}",
            )
            return
        result = await self._execute(request)
        tag = message.get("MessageAttributes", {}).get(TAG_ATTRIBUTE, {}).get("StringValue")
        await self._respond(request.request_id, result, tag)
        await self._delete(receipt)

    async def _execute(self, request: SqsRequest) -> str:
        try:
            result = await self._handler.execute(request.command_envelope.encode())
            text = result.decode()
        except MalformedRequest as exc:
            self.outcomes["failed"] += 1
            return failed_envelope(MALFORMED_FAILURE_CLASS, str(exc) or "malformed command")
        except Exception as exc:
            self.outcomes["failed"] += 1
            LOG.warning(
                "SQS worker request %s failed: %s: %s", request.request_id, type(exc).__name__, exc
            )
            return failed_envelope(ERROR_FAILURE_CLASS, str(exc) or type(exc).__name__)
        self.outcomes["processed"] += 1
        return text

    async def _respond(self, request_id: str, result: str, tag: str | None) -> None:
        response = sign_response(self._signer, request_id, result)
        options: dict[str, Any] = {}
        if tag:
            options["MessageAttributes"] = {
                TAG_ATTRIBUTE: {"DataType": "String", "StringValue": tag}
            }
        sqs = await self._aws.client("sqs")
        try:
            await sqs.send_message(
                QueueUrl=self.response_queue_url, MessageBody=encode(response), **options
            )
        except Exception as exc:
            self.outcomes["send_failed"] += 1
            LOG.error(
                "SQS worker response to %s lost: %s",
                request_id,
                failure(f"SendMessage {self.response_queue_url}", exc),
            )

    async def _drop(self, receipt: str, outcome: str, detail: str) -> None:
        self.outcomes[outcome] += 1
        LOG.warning("dropping SQS worker request (%s): %s", outcome, detail)
        await self._delete(receipt)

    async def _delete(self, receipt: str) -> None:
        sqs = await self._aws.client("sqs")
        try:
            await sqs.delete_message(QueueUrl=self.request_queue_url, ReceiptHandle=receipt)
        except Exception as exc:
            # It comes back after its visibility timeout and is refused as replayed then.
            LOG.warning("%s", failure(f"DeleteMessage {self.request_queue_url}", exc))

    async def aclose(self) -> None:
        """Stop polling once the current long poll returns, then wait for every request in
        flight to be answered (and deleted)."""
        if self._closed:
            return
        self._closed = True
        self._stop.set()
        self._slot.set()
        task, self._task = self._task, None
        if task is not None:
            done, _ = await asyncio.wait([task], timeout=self._wait_s + 10.0)
            if not done:
                task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        while self._inflight:
            await asyncio.gather(*list(self._inflight), return_exceptions=True)
