"""The SQS calls of the work queue, batched: coalesced sends and deletes, visibility changes.

:class:`Coalescer` is the batching: ``add`` queues an entry and, if no flush is running, starts
one. A flush takes everything queued so far and sends it as concurrent requests of up to 10
entries (SQS's batch limit); entries added meanwhile go in the next round. The flush task
starts only after every coroutine already scheduled on the loop has run, so concurrent callers
share the first round, and under load rounds fill up by themselves (like a group commit), while
a lone call still costs exactly one request and no added delay.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Awaitable, Callable
from typing import Any, Generic, Protocol, TypeVar, cast

import msgspec

from tpf.aws.clients import AwsClients, error_code
from tpf.core.errors import RetryableError
from tpf.core.records import WorkItem

LOG = logging.getLogger("tpf.transports.sqs")

MAX_DELAY_S = 900  # SQS's DelaySeconds limit
BATCH = 10  # SQS's batch and ReceiveMessage limit

T = TypeVar("T")


class SqsClient(Protocol):
    """The part of aiobotocore's SQS client the work queue uses (responses are plain dicts)."""

    async def send_message_batch(self, **kwargs: Any) -> dict[str, Any]: ...
    async def receive_message(self, **kwargs: Any) -> dict[str, Any]: ...
    async def delete_message_batch(self, **kwargs: Any) -> dict[str, Any]: ...
    async def change_message_visibility_batch(self, **kwargs: Any) -> dict[str, Any]: ...
    async def get_queue_attributes(self, **kwargs: Any) -> dict[str, Any]: ...


def delay_seconds(delay_ms: int) -> int:
    """SQS ``DelaySeconds`` for a delay: rounded up (an early message would find the execution
    not yet due and be dropped), capped at 900 (the sweeper covers longer delays)."""
    return min(MAX_DELAY_S, max(0, math.ceil(delay_ms / 1000)))


def decode_item(body: str) -> WorkItem | None:
    """The work item of a message body, or ``None`` if the body is not one."""
    try:
        item = msgspec.json.decode(body, type=WorkItem)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None
    return item if item.tenant_id and item.execution_id else None


def failure(what: str, exc: BaseException) -> str:
    return f"SQS {what} failed: {error_code(exc) or type(exc).__name__}: {exc}"


class Coalescer(Generic[T]):
    """Collects entries and flushes them in rounds of concurrent batches (module docstring)."""

    def __init__(self, flush: Callable[[list[T]], Awaitable[None]], name: str) -> None:
        self._flush = flush
        self._name = name
        self._pending: list[T] = []
        self._task: asyncio.Task[None] | None = None

    def add(self, entry: T) -> None:
        self._pending.append(entry)
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name=self._name)

    async def _run(self) -> None:
        while self._pending:
            pending, self._pending = self._pending, []
            batches = [pending[i : i + BATCH] for i in range(0, len(pending), BATCH)]
            await asyncio.gather(*(self._flush(batch) for batch in batches))

    async def drain(self) -> None:
        """Wait until everything added so far has been flushed."""
        if self._task is not None:
            await self._task


Send = tuple[str, int, "asyncio.Future[None] | None"]  # body, DelaySeconds, caller's future


class SqsBatches:
    """One queue's batched SQS calls. Failures never escape a flush: a send's failure goes to
    its caller's future (or the log, for fire-and-forget sends); others are logged and counted."""

    def __init__(self, aws: AwsClients, url: str) -> None:
        self._aws = aws
        self.url = url
        self.sends: Coalescer[Send] = Coalescer(self._send_batch, "tpf-sqs-send")
        self.deletes: Coalescer[str] = Coalescer(self._delete_batch, "tpf-sqs-delete")
        self.errors = 0

    async def client(self) -> SqsClient:
        return cast(SqsClient, await self._aws.client("sqs"))

    async def _send_batch(self, batch: list[Send]) -> None:
        entries: list[dict[str, Any]] = [
            {"Id": str(i), "MessageBody": body, "DelaySeconds": delay}
            for i, (body, delay, _) in enumerate(batch)
        ]
        failed: dict[str, str] = {}
        try:
            response = await (await self.client()).send_message_batch(
                QueueUrl=self.url, Entries=entries
            )
        except Exception as exc:
            everything = failure("SendMessageBatch", exc)
            failed = {str(i): everything for i in range(len(batch))}
        else:
            for entry in response.get("Failed", []):
                failed[str(entry["Id"])] = (
                    f"SQS SendMessage failed: {entry.get('Code')}: {entry.get('Message', '')}"
                )
        for i, (_, _, future) in enumerate(batch):
            reason = failed.get(str(i))
            if future is None:
                if reason is not None:
                    self.errors += 1
                    LOG.warning("work item not sent to %s: %s", self.url, reason)
            elif future.done():
                continue  # the caller gave up waiting
            elif reason is None:
                future.set_result(None)
            else:
                future.set_exception(RetryableError(reason))

    async def _delete_batch(self, receipts: list[str]) -> None:
        entries = [{"Id": str(i), "ReceiptHandle": r} for i, r in enumerate(receipts)]
        try:
            response = await (await self.client()).delete_message_batch(
                QueueUrl=self.url, Entries=entries
            )
            failed = len(response.get("Failed", []))
        except Exception as exc:
            LOG.warning("%s", failure("DeleteMessageBatch", exc))
            failed = len(entries)
        if failed:
            # They reappear after the visibility timeout: a duplicate hint that the lease claim
            # turns into a no-op.
            self.errors += 1
            LOG.warning("%d work messages not deleted; they will be redelivered", failed)

    async def change_visibility(self, receipts: list[str], timeout_s: int) -> None:
        sqs = await self.client()
        for i in range(0, len(receipts), BATCH):
            entries = [
                {"Id": str(n), "ReceiptHandle": r, "VisibilityTimeout": timeout_s}
                for n, r in enumerate(receipts[i : i + BATCH])
            ]
            try:
                await sqs.change_message_visibility_batch(QueueUrl=self.url, Entries=entries)
            except Exception as exc:
                self.errors += 1
                LOG.warning("%s", failure("ChangeMessageVisibilityBatch", exc))

    async def approximate_depth(self) -> int | None:
        """Visible plus delayed messages as SQS reports them, or ``None`` if it cannot say."""
        try:
            response = await (await self.client()).get_queue_attributes(
                QueueUrl=self.url,
                AttributeNames=[
                    "ApproximateNumberOfMessages",
                    "ApproximateNumberOfMessagesDelayed",
                ],
            )
        except Exception as exc:
            LOG.debug("%s", failure("GetQueueAttributes", exc))
            return None
        return sum(int(v) for v in response.get("Attributes", {}).values())
