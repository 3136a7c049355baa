"""The ``sqs`` work queue (``dispatcher-provider=sqs``): work items as SQS messages (spec §9).

A message body is the JSON ``{"tenantId", "executionId"}``; it only says "look at execution X".
The store is the truth, which is what makes the choices below safe.

**Local loopback** (``pipeline.orchestrator.sqs.local-loopback``, default ``true`` as in the
original). What this module implements, precisely:

- ``true``: every enqueue is sent to SQS (so a coordinator running with loopback off can pick it
  up, as in the original) *and* is made receivable in this process: a delay-0 item at once, a
  delayed item once this process's clock reaches its due time. The SQS poller never runs here
  (spec §8: the poller only runs when loopback is ``false``), so nothing in this process deletes
  those messages. The original loops back delay-0 items only and leaves delayed ones to the
  sweeper; holding them locally too makes retries fire on time at no extra request cost.
  Because nobody in a loopback-only fleet consumes the queue, its messages only expire by
  retention; multi-coordinator (HA) deployments should set loopback to ``false``.
- ``false``: every enqueue goes only to SQS, and ``settings.sqs_receivers`` concurrent long-poll
  receivers (started by :meth:`start`, or lazily by the first :meth:`receive` / :meth:`wait_ready`)
  fill an in-memory buffer that :meth:`receive` pops without blocking.

**Delete on hand-off.** A message is deleted (in batches) as soon as :meth:`receive` has handed
its item to the consumer, not after the transition commits. This is safe because a work item
carries no state: if this process dies after the delete, the execution is still due in the store
(``QUEUED``/``WAIT_RETRY`` with ``next_due <= now``, or ``RUNNING`` with a lease that expires)
and the sweeper re-dispatches it; a duplicate delivery is fenced by the lease claim and the
record's ``version``. Keeping the message until commit would instead need its visibility extended
for as long as a transition runs, and would redeliver it to another coordinator whenever a
transition outlived the visibility timeout. So visibility is only extended for messages still
*buffered* (not yet handed off) after half the visibility timeout (:meth:`maintain`), and on
:meth:`close` buffered messages are made visible again at once for the other coordinators.

**Delays.** ``DelaySeconds = ceil(delay_ms / 1000)`` (rounded up: an early message would find the
execution not yet due and be dropped), capped at SQS's 900 s. A longer delay is sent with 900 s:
the item then arrives early, its claim finds the record not due and does nothing, and the sweeper
dispatches the execution when the store's ``next_due`` passes (spec §3.5).

**Batching.** Sends and deletes are coalesced into ``SendMessageBatch`` / ``DeleteMessageBatch``
requests of up to 10 entries (:mod:`tpf.transports.work.sqs_batches`): concurrent enqueues share
requests, and a lone enqueue still costs one request and no added delay.

**Errors.** An SQS failure of a non-loopback enqueue raises :class:`~tpf.errors.RetryableError`.
Receiver failures are logged and retried with backoff (1 s doubling to 30 s); malformed bodies
are deleted and counted in ``malformed``.

**depth()** is the buffer plus the local loopback items plus, when polling, the queue's
``ApproximateNumberOfMessages`` + ``...Delayed`` from the last :meth:`maintain` pass (one
``GetQueueAttributes`` request per pass, every half visibility timeout), so it lags by up to 15 s.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from dataclasses import dataclass
from typing import Any

import msgspec

from tpf.aws.clients import AwsClients
from tpf.config.settings import Settings
from tpf.core.clock import Clock
from tpf.core.errors import RetryableError
from tpf.core.records import WorkItem
from tpf.transports.work.inproc import InProcessWorkQueue
from tpf.transports.work.sqs_batches import BATCH, SqsBatches, decode_item, delay_seconds, failure

LOG = logging.getLogger("tpf.transports.sqs")
_BACKOFF_MAX_S = 30.0


@dataclass(slots=True)
class _Buffered:
    item: WorkItem
    receipt: str
    received_at_ms: int


class SqsWorkQueue:
    def __init__(
        self,
        aws: AwsClients,
        settings: Settings,
        clock: Clock,
        *,
        wait_time_s: int = 20,
        visibility_timeout_s: int = 30,
    ) -> None:
        if not settings.sqs.queue_url:
            raise ValueError("SqsWorkQueue needs settings.queue_url")
        self._sqs = SqsBatches(aws, settings.sqs.queue_url)
        self._url = settings.sqs.queue_url
        self._clock = clock
        self._loopback = settings.sqs.local_loopback
        self._receivers = max(1, settings.sqs.receivers)
        self._start_delay_s = settings.sqs.poll_start_delay_ms / 1000.0
        self._wait_s = max(0, min(20, wait_time_s))
        self._visibility_s = max(1, visibility_timeout_s)
        # Receivers pause above this many buffered messages: each one is invisible to the other
        # coordinators until handed off, so read ahead only one batch per receiver.
        self._high_water = BATCH * self._receivers
        self._buffer: deque[_Buffered] = deque()
        self._signal = asyncio.Event()  # something may be receivable
        # Loopback items (sqs.local-loopback): receivable here, at once or when due.
        self._here = InProcessWorkQueue(clock, signal=self._signal)
        self._space = asyncio.Event()  # the buffer dropped below the high-water mark
        self._tasks: list[asyncio.Task[None]] = []
        self._remote_depth = 0
        self._closed = False
        self.malformed = 0  # bodies that were not work items (deleted)
        self.delivered = 0  # items received from SQS and handed to the consumer

    @property
    def errors(self) -> int:
        """SQS calls that failed in the background (logged; the store keeps the truth)."""
        return self._sqs.errors

    # ------------------------------------------------------------------ sending

    async def enqueue(self, item: WorkItem, delay_ms: int = 0) -> None:
        if self._closed:
            raise RetryableError("the SQS work queue is closed")
        body = msgspec.json.encode(item).decode()
        if self._loopback:
            await self._here.enqueue(item, delay_ms)
            # Already receivable here; the SQS copy is for other coordinators, so a failure to
            # send it is logged by the flush rather than failing the caller.
            self._sqs.sends.add((body, delay_seconds(delay_ms), None))
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._sqs.sends.add((body, delay_seconds(delay_ms), future))
        await future

    # ------------------------------------------------------------------ receiving

    async def start(self) -> None:
        """Start the long-poll receivers (no-op in loopback mode or when already running)."""
        self._ensure_started()

    def _ensure_started(self) -> None:
        if self._loopback or self._tasks or self._closed:
            return
        self._tasks = [
            asyncio.create_task(self._receive_loop(), name=f"tpf-sqs-receiver-{n}")
            for n in range(self._receivers)
        ]
        self._tasks.append(asyncio.create_task(self._maintain_loop(), name="tpf-sqs-maintain"))

    async def _receive_loop(self) -> None:
        if self._start_delay_s > 0:
            await asyncio.sleep(self._start_delay_s)
        backoff = 1.0
        while not self._closed:
            if len(self._buffer) >= self._high_water:
                self._space.clear()
                await self._space.wait()
                continue
            try:
                response = await (await self._sqs.client()).receive_message(
                    QueueUrl=self._url,
                    MaxNumberOfMessages=BATCH,
                    WaitTimeSeconds=self._wait_s,
                    VisibilityTimeout=self._visibility_s,
                )
            except Exception as exc:
                self._sqs.errors += 1
                LOG.warning("%s; retrying in %.0f s", failure("ReceiveMessage", exc), backoff)
                await asyncio.sleep(backoff)
                backoff = min(_BACKOFF_MAX_S, backoff * 2)
                continue
            backoff = 1.0
            self._accept(response.get("Messages", []))

    def _accept(self, messages: list[dict[str, Any]]) -> None:
        now = self._clock.now_ms()
        for message in messages:
            receipt = str(message["ReceiptHandle"])
            item = decode_item(str(message.get("Body", "")))
            if item is None:
                # Nobody can ever process it; redelivering it would only cost requests.
                self.malformed += 1
                LOG.warning("deleting malformed work message %s", message.get("MessageId"))
                self._sqs.deletes.add(receipt)
            else:
                self._buffer.append(_Buffered(item, receipt, now))
        if self._buffer:
            self._signal.set()

    async def receive(self, max_items: int) -> list[WorkItem]:
        self._ensure_started()
        out = await self._here.receive(max_items)
        while self._buffer and len(out) < max_items:
            buffered = self._buffer.popleft()
            out.append(buffered.item)
            self.delivered += 1
            self._sqs.deletes.add(buffered.receipt)  # handed off: see the module docstring
        if len(self._buffer) < self._high_water:
            self._space.set()
        return out

    async def wait_ready(self, timeout_s: float) -> None:
        self._ensure_started()
        if self._buffer or self._here.has_ready():
            return
        self._signal.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._signal.wait(), self._here.wait_limit_s(timeout_s))

    def depth(self) -> int:
        return len(self._buffer) + self._here.depth() + self._remote_depth

    # ------------------------------------------------------------------ visibility & closing

    async def maintain(self) -> int:
        """One maintenance pass: extend the visibility of messages buffered for half the
        visibility timeout, and refresh the remote depth. Returns the messages extended."""
        now = self._clock.now_ms()
        stale_before = now - self._visibility_s * 500
        stale = [b for b in self._buffer if b.received_at_ms <= stale_before]
        for buffered in stale:
            buffered.received_at_ms = now
        if stale:
            await self._sqs.change_visibility([b.receipt for b in stale], self._visibility_s)
        remote = await self._sqs.approximate_depth()
        if remote is not None:
            self._remote_depth = remote
        return len(stale)

    async def _maintain_loop(self) -> None:
        while not self._closed:
            await asyncio.sleep(self._visibility_s / 2)
            await self.maintain()

    async def close(self) -> None:
        """Stop the receivers, send what is pending, and give back unhanded messages.

        A message taken by a long poll that is cancelled here reappears after the visibility
        timeout (the request is abandoned mid-flight); the store keeps the execution due.
        """
        if self._closed:
            return
        self._closed = True
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self._sqs.sends.drain()
        # Visible again now, so another coordinator takes them without waiting for the timeout.
        unhanded = [b.receipt for b in self._buffer]
        self._buffer.clear()
        if unhanded:
            await self._sqs.change_visibility(unhanded, 0)
        await self._sqs.deletes.drain()
        await self._here.close()
