"""The response-queue consumer of SQS worker transports: one per process and response queue.

Every :class:`~tpf.transports.workers.remote.sqs_client.SqsWorkerTransport` of a process that
reads the same response queue through the same :class:`~tpf.aws.clients.AwsClients` shares one
:class:`SqsResponseConsumer` (:meth:`SqsResponseConsumer.shared`): it long-polls the queue and
routes each response to the call waiting for its ``requestId`` (a future per request id). The
demultiplexing rules are explained in :mod:`~tpf.transports.workers.remote.sqs_client`; this
module applies them to each message and counts the outcome in :attr:`outcomes`:

``delivered``  signature holds, a call was waiting: its result; deleted.
``refused``    a call was waiting but the signature does not hold: deleted, logged, not applied
               (the call keeps waiting for a genuine response, and its timeout says why).
``late``       our tag, nobody waiting (the call timed out or was closed): deleted, logged.
``handed_back`` another coordinator's tag: made visible again after a delay growing with the
               message's receive count (0, 0, 1, 1, 2, 2, 4 s... up to ``handback_max_s``).
``expired``    another coordinator's tag, sent longer ago than anyone waits: deleted.
``malformed``  not a response message at all: deleted, logged.
"""

from __future__ import annotations

import asyncio
import logging
import random
import weakref
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from tpf.aws.clients import AwsClients, error_code
from tpf.core.clock import Clock
from tpf.core.errors import ConfigError, RetryableError
from tpf.transports.work.sqs_batches import failure
from tpf.transports.workers.remote.contracts import (
    ENVELOPE_ENCODING,
    PROTOCOL_VERSION,
    MalformedRequest,
    TransportFailure,
)
from tpf.transports.workers.remote.signing import SignatureRejected, Verifier
from tpf.transports.workers.remote.sqs_messages import (
    SqsResponse,
    decode_response,
    tag_of,
    verify_response,
)

LOG = logging.getLogger("tpf.workers.sqs")
_BACKOFF_MAX_S = 30.0
_MISSING_QUEUE = ("AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist")


def handback_delay_s(receive_count: int, max_s: int) -> int:
    """How long a foreign response stays hidden after this hand-back: at once the first two
    times (its owner is most likely polling already, and with three coordinators the other
    one may take it first), then 1, 1, 2, 2, 4, 4 s... capped at ``max_s``."""
    if receive_count <= 2:
        return 0
    return int(min(max_s, 2 ** min((receive_count - 3) // 2, 30)))


@dataclass(slots=True)
class Pending:
    """One call waiting for its response."""

    tag: str
    verifier: Verifier
    future: asyncio.Future[bytes]
    refused: list[str] = field(default_factory=list)  # why responses to it were refused


_SHARED: weakref.WeakKeyDictionary[AwsClients, dict[str, SqsResponseConsumer]] = (
    weakref.WeakKeyDictionary()
)


class SqsResponseConsumer:
    def __init__(
        self,
        aws: AwsClients,
        queue_url: str,
        clock: Clock,
        *,
        wait_time_s: int = 1,
        receivers: int = 2,
        visibility_timeout_s: int | None = None,
        handback_max_s: int = 5,
    ) -> None:
        self._aws = aws
        self.queue_url = queue_url
        self._clock = clock
        self._wait_s = max(1, min(20, wait_time_s))  # 0 would poll in a tight loop
        self._receivers = max(1, receivers)
        self._visibility_s = visibility_timeout_s
        self._handback_max_s = max(0, handback_max_s)
        self._pending: dict[str, Pending] = {}
        self._tags: Counter[str] = Counter()  # tag -> transports using it
        self._expire_after_ms = 0  # the longest any attached transport waits, plus skew
        self._receiver_tasks: list[asyncio.Task[None]] = []
        self._closed = False
        self.outcomes: Counter[str] = Counter()

    @classmethod
    def shared(
        cls, aws: AwsClients, queue_url: str, clock: Clock, **options: Any
    ) -> SqsResponseConsumer:
        """The consumer of ``queue_url`` for ``aws``, created (with ``options``) on first use."""
        consumers = _SHARED.setdefault(aws, {})
        consumer = consumers.get(queue_url)
        if consumer is None or consumer._closed:
            consumer = consumers[queue_url] = cls(aws, queue_url, clock, **options)
        return consumer

    # ------------------------------------------------------------------ transports

    def attach(self, tag: str, expire_after_ms: int) -> None:
        """A transport with ``tag`` reads from here; responses sent over ``expire_after_ms``
        ago can no longer be waited for by it."""
        self._tags[tag] += 1
        self._expire_after_ms = max(self._expire_after_ms, expire_after_ms)

    async def detach(self, tag: str) -> None:
        """A transport left: its waiting calls fail; the last one out stops the consumer."""
        self._tags[tag] -= 1
        if self._tags[tag] <= 0:
            del self._tags[tag]
            for request_id, pending in list(self._pending.items()):
                if pending.tag == tag:
                    self.forget(request_id)
                    if not pending.future.done():
                        pending.future.set_exception(
                            TransportFailure("cancelled", "the SQS worker transport was closed")
                        )
        if not self._tags:
            self.release_if_unused()
            await self.aclose()

    def release_if_unused(self) -> None:
        """Leave the process's registry if no transport is attached (one whose startup check
        failed), so the next transport builds a consumer with its own options."""
        if not self._tags:
            consumers = _SHARED.get(self._aws, {})
            if consumers.get(self.queue_url) is self:
                del consumers[self.queue_url]

    def expect(self, request_id: str, tag: str, verifier: Verifier) -> Pending:
        """Register a call before its request is sent (the response may beat the send's
        return)."""
        pending = Pending(tag, verifier, asyncio.get_running_loop().create_future())
        self._pending[request_id] = pending
        return pending

    def forget(self, request_id: str) -> None:
        self._pending.pop(request_id, None)

    def waiting(self) -> int:
        return len(self._pending)

    # ------------------------------------------------------------------ startup

    async def check_visibility(self, request_timeout_s: float) -> int:
        """The visibility timeout responses are received with; ``ConfigError`` if it is shorter
        than ``request_timeout_s`` (the original's startup rule, spec §7.5)."""
        visibility = self._visibility_s
        if visibility is None:
            visibility = await self._queue_visibility()
        if visibility < request_timeout_s:
            raise ConfigError(
                f"worker.sqs.visibility-timeout: the response queue {self.queue_url} hides a "
                f"received message for {visibility} s, less than the request timeout "
                f"{request_timeout_s:g} s (worker.sqs.request-timeout); set the queue's "
                "VisibilityTimeout or pipeline.orchestrator.worker.sqs.visibility-timeout to at "
                "least the request timeout"
            )
        return visibility

    async def _queue_visibility(self) -> int:
        sqs = await self._aws.client("sqs")
        try:
            response = await sqs.get_queue_attributes(
                QueueUrl=self.queue_url, AttributeNames=["VisibilityTimeout"]
            )
        except Exception as exc:
            if error_code(exc) in _MISSING_QUEUE:
                raise ConfigError(
                    f"worker.sqs.response-queue-url: queue {self.queue_url} does not exist"
                ) from exc
            raise RetryableError(failure("GetQueueAttributes", exc)) from exc
        return int(response["Attributes"]["VisibilityTimeout"])

    # ------------------------------------------------------------------ receiving

    def start(self) -> None:
        if self._receiver_tasks or self._closed:
            return
        self._receiver_tasks = [
            asyncio.create_task(self._run(), name=f"tpf-sqs-worker-responses-{n}")
            for n in range(self._receivers)
        ]

    async def _run(self) -> None:
        backoff = 1.0
        while not self._closed:
            try:
                _, handed_back = await self._poll(self._wait_s)
                backoff = 1.0
                if handed_back:
                    # The receiver that just handed a response back would be the first to see
                    # it again (its next poll starts at once): a random pause gives the owner's
                    # waiting polls the first chance, and keeps two receivers from locking into
                    # step with a hand-back delay.
                    await asyncio.sleep(random.uniform(0.0, max(0.2, float(self._wait_s))))
            except Exception as exc:
                LOG.warning(
                    "%s; retrying in %.0f s",
                    failure(f"ReceiveMessage {self.queue_url}", exc),
                    backoff,
                )
                await asyncio.sleep(backoff)
                backoff = min(_BACKOFF_MAX_S, backoff * 2)

    async def poll_once(self, wait_time_s: int | None = None) -> int:
        """One receive and its messages routed, deleted or handed back; their number."""
        received, _ = await self._poll(self._wait_s if wait_time_s is None else wait_time_s)
        return received

    async def _poll(self, wait_s: int) -> tuple[int, bool]:
        """(messages received, whether any was handed back)."""
        sqs = await self._aws.client("sqs")
        options: dict[str, Any] = {}
        if self._visibility_s is not None:
            options["VisibilityTimeout"] = self._visibility_s
        response = await sqs.receive_message(
            QueueUrl=self.queue_url,
            MaxNumberOfMessages=10,
            WaitTimeSeconds=wait_s,
            AttributeNames=["ApproximateReceiveCount", "SentTimestamp"],
            **options,
        )
        messages: list[dict[str, Any]] = response.get("Messages", [])
        deletes: list[str] = []
        handbacks: list[tuple[str, int]] = []
        for message in messages:
            delay = await self._route(message)
            if delay is None:
                deletes.append(message["ReceiptHandle"])
            else:
                handbacks.append((message["ReceiptHandle"], delay))
        await asyncio.gather(self._delete(sqs, deletes), self._hand_back(sqs, handbacks))
        return len(messages), bool(handbacks)

    async def _route(self, message: dict[str, Any]) -> int | None:
        """What to do with one message: ``None`` = delete it, else hide it for that many
        seconds (hand it back)."""
        try:
            response = decode_response(str(message.get("Body", "")))
        except MalformedRequest as exc:
            self._count("malformed")
            LOG.warning(
                "deleting malformed SQS worker response %s: %s", message.get("MessageId"), exc
            )
            return None
        pending = self._pending.get(response.request_id)
        if pending is not None:
            await self._settle(response, pending)
            return None
        tag = tag_of(response.request_id)
        if tag is not None and tag in self._tags:
            self._count("late")
            LOG.info(
                "deleting SQS worker response %s: no call waits for it any more",
                response.request_id,
            )
            return None
        attributes = message.get("Attributes", {})
        sent_ms = int(attributes.get("SentTimestamp", "0") or 0)
        if sent_ms and self._clock.now_ms() - sent_ms > self._expire_after_ms:
            self._count("expired")
            LOG.info(
                "deleting SQS worker response %s: older than any coordinator waits",
                response.request_id,
            )
            return None
        self._count("handed_back")
        count = int(attributes.get("ApproximateReceiveCount", "1") or 1)
        return handback_delay_s(count, self._handback_max_s)

    async def _settle(self, response: SqsResponse, pending: Pending) -> None:
        try:
            await verify_response(pending.verifier, response)
        except SignatureRejected as exc:
            # Not applied; the call waits on, so a forged response cannot cancel a real one.
            self._count("refused")
            pending.refused.append(exc.reason)
            LOG.warning(
                "deleting SQS worker response %s: signature refused (%s)",
                response.request_id,
                exc.reason,
            )
            return
        self.forget(response.request_id)
        if pending.future.done():
            self._count("late")
            return
        self._count("delivered")
        if response.protocol_version != PROTOCOL_VERSION:
            pending.future.set_exception(
                TransportFailure(
                    "protocol", f"SQS worker answered protocolVersion={response.protocol_version!r}"
                )
            )
        elif response.result_encoding != ENVELOPE_ENCODING:
            pending.future.set_exception(
                TransportFailure(
                    "protocol", f"SQS worker answered resultEncoding={response.result_encoding!r}"
                )
            )
        else:
            pending.future.set_result(response.result_envelope.encode())

    async def _delete(self, sqs: Any, receipts: list[str]) -> None:
        if not receipts:
            return
        entries = [{"Id": str(n), "ReceiptHandle": r} for n, r in enumerate(receipts)]
        try:
            answer = await sqs.delete_message_batch(QueueUrl=self.queue_url, Entries=entries)
        except Exception as exc:
            # They come back after the visibility timeout and are deleted then (as late).
            LOG.warning("%s", failure("DeleteMessageBatch", exc))
            return
        for failed in answer.get("Failed", []):
            LOG.warning("SQS worker response not deleted: %s", failed.get("Message"))

    async def _hand_back(self, sqs: Any, handbacks: list[tuple[str, int]]) -> None:
        if not handbacks:
            return
        entries = [
            {"Id": str(n), "ReceiptHandle": r, "VisibilityTimeout": delay}
            for n, (r, delay) in enumerate(handbacks)
        ]
        try:
            answer = await sqs.change_message_visibility_batch(
                QueueUrl=self.queue_url, Entries=entries
            )
        except Exception as exc:
            # Its owner gets it after the visibility timeout: probably too late for its call.
            LOG.warning("%s", failure("ChangeMessageVisibilityBatch", exc))
            return
        for failed in answer.get("Failed", []):
            LOG.warning("SQS worker response not handed back: %s", failed.get("Message"))

    def _count(self, outcome: str) -> None:
        self.outcomes[outcome] += 1

    async def aclose(self) -> None:
        """Stop receiving once each receiver's current long poll returns (at most
        ``wait_time_s``): a poll cancelled mid-flight would hide the responses it took, other
        coordinators' among them, for the whole visibility timeout."""
        self._closed = True
        tasks, self._receiver_tasks = self._receiver_tasks, []
        if not tasks:
            return
        _, late = await asyncio.wait(tasks, timeout=self._wait_s + 10.0)
        for task in late:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
