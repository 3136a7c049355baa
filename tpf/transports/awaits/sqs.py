"""The ``sqs`` await channel: requests to a request queue, completions from a response queue.

**Dispatch.** :meth:`SqsAwaitChannel.publish` sends the dispatch envelope (spec §4.7) as one
``SendMessage`` to the request queue and returns once SQS accepted it; the await dispatcher
marks the interaction dispatched only then, so a crash in between publishes it again
(at-least-once: a consumer dedupes on ``interactionId``).

**Completions.** Long-poll receivers (:meth:`poll_once`, run in a loop by :meth:`start`; tests
call it directly) read the response queue; several coordinators may poll one queue (competing
consumers), since any of them can admit any completion. Each message is handled in turn
(:func:`tpf.transports.awaits.consume.handle`) and then:

- admitted, duplicate or durably held: deleted (only after the sink returned);
- poison: the :class:`~tpf.transports.awaits.envelopes.PoisonEnvelope` is sent to the
  dead-letter queue, counted, and only then the message deleted (if the DLQ send fails the
  message stays and comes back); without a dead-letter queue it is logged whole at ERROR and
  deleted;
- transient failure: not deleted. Its visibility is set to a bounded backoff by its receive
  count (``ApproximateReceiveCount``: 1 s, 2 s, 4 s... up to ``max_backoff_s``), so it comes
  back soon, to this or another coordinator, without a retry storm; a queue redrive policy
  (``maxReceiveCount``) remains the operator's last resort.

Standard queues only: a ``.fifo`` URL is refused at construction (a FIFO queue needs a message
group id the original's envelope does not carry).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from typing import Any

from tpf.authoring.await_transports import Sqs
from tpf.aws.clients import AwsClients, error_code
from tpf.config.await_transport import channel_key
from tpf.core.clock import Clock
from tpf.core.errors import ConfigError, RetryableError
from tpf.core.records import AwaitInteraction
from tpf.transports.awaits.consume import (
    Action,
    Admission,
    Backoff,
    CompletionSink,
    Verdict,
    handle,
    poison_envelope,
)
from tpf.transports.awaits.envelopes import DispatchEnvelope, encode
from tpf.transports.awaits.metrics import AwaitMetrics

# A request waiting for the next SendMessageBatch: its interaction, body and publisher.
_Outgoing = tuple[AwaitInteraction, str, "asyncio.Future[None]"]
LOG = logging.getLogger("tpf.awaits.sqs")


@dataclass(frozen=True, slots=True, kw_only=True)
class SqsChannelConfig:
    request_queue_url: str
    response_queue_url: str
    dead_letter_queue_url: str | None = None
    wait_time_s: int = 20  # long poll (SQS allows 1..20)
    max_messages: int = 10  # per receive (SQS allows 1..10)
    visibility_timeout_s: int = 30
    max_backoff_s: int = 60
    receivers: int = 4  # concurrent long polls (like the work queue's tpf.sqs.receivers)

    def __post_init__(self) -> None:
        for name in ("request_queue_url", "response_queue_url", "dead_letter_queue_url"):
            url = getattr(self, name)
            if url is not None and not url.strip():
                raise ConfigError(f"sqs await channel: {name} is required")
            if url is not None and url.rstrip("/").endswith(".fifo"):
                raise ConfigError(
                    f"sqs await channel: {name}={url} is a FIFO queue; await channels use "
                    "standard queues"
                )
        if not 0 <= self.wait_time_s <= 20:
            raise ConfigError(f"sqs await channel: wait_time_s={self.wait_time_s} not in 0..20")
        if not 1 <= self.max_messages <= 10:
            raise ConfigError(f"sqs await channel: max_messages={self.max_messages} not in 1..10")


class SqsAwaitChannel:
    name = "sqs"
    publishes = True

    def __init__(
        self,
        aws: AwsClients,
        config: SqsChannelConfig,
        sink: CompletionSink,
        clock: Clock,
        *,
        metrics: AwaitMetrics | None = None,
    ) -> None:
        self._aws = aws
        self.config = config
        self._sink = sink
        self._clock = clock
        self.metrics = metrics or AwaitMetrics()
        self.key = channel_key(Sqs(config.request_queue_url, config.response_queue_url))
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        self.published = 0
        self.outcomes: dict[str, int] = {}  # admitted / duplicate / held / poison / retry
        self._outgoing: list[_Outgoing] = []
        self._flushing: asyncio.Future[None] | None = None

    # ------------------------------------------------------------------ dispatch

    def transport_metadata(self, interaction: AwaitInteraction, now_ms: int) -> dict[str, Any]:
        return {
            "adapter": "sqs",
            "requestQueueUrl": self.config.request_queue_url,
            "responseQueueUrl": self.config.response_queue_url,
            "dispatchedAtEpochMs": now_ms,
        }

    async def publish(self, interaction: AwaitInteraction, envelope: DispatchEnvelope) -> None:
        """Send one request; requests published together (a stream's window refilling) leave
        in ``SendMessageBatch`` calls of up to 10, each publisher answered for its own entry."""
        sent: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._outgoing.append((interaction, encode(envelope).decode(), sent))
        if self._flushing is None:
            self._flushing = asyncio.ensure_future(self._flush())
        await sent
        self.published += 1

    async def _flush(self) -> None:
        await asyncio.sleep(0)  # let the publishers of this moment join the batch
        try:
            while self._outgoing:
                batch, self._outgoing = self._outgoing[:10], self._outgoing[10:]
                await self._send_batch(batch)
        finally:
            self._flushing = None

    async def _send_batch(self, batch: list[_Outgoing]) -> None:
        url = self.config.request_queue_url
        try:
            sqs = await self._aws.client("sqs")
            answer = await sqs.send_message_batch(
                QueueUrl=url,
                Entries=[
                    {"Id": str(n), "MessageBody": body} for n, (_, body, _) in enumerate(batch)
                ],
            )
            failed = {int(f["Id"]): f for f in answer.get("Failed", [])}
        except Exception as exc:
            failed = {
                n: {"Code": error_code(exc) or type(exc).__name__, "Message": str(exc)}
                for n in range(len(batch))
            }
        for n, (interaction, _, sent) in enumerate(batch):
            if sent.done():
                continue
            if n in failed:
                why = failed[n]
                sent.set_exception(
                    RetryableError(
                        f"await request {interaction.interaction_id} could not be sent to {url}: "
                        f"{why.get('Code')}: {why.get('Message')}"
                    )
                )
            else:
                sent.set_result(None)

    # ------------------------------------------------------------------ completions

    async def start(self) -> None:
        if self._task is None and not self._closed:
            # Several long polls at once: one receive returns at most max_messages, and a
            # lane with many completions in flight would wait a receive round trip for each.
            self._task = asyncio.create_task(self._receivers(), name="tpf-await-sqs-consumer")

    async def _receivers(self) -> None:
        await asyncio.gather(*(self._run() for _ in range(max(1, self.config.receivers))))

    async def _run(self) -> None:
        backoff = Backoff(1.0, 30.0)
        while not self._closed:
            try:
                await self.poll_once()
                backoff.reset()
            except Exception as exc:
                delay = backoff.next()
                LOG.warning(
                    "SQS completion consumer of %s failed: %s: %s; retrying in %.0f s",
                    self.config.response_queue_url,
                    type(exc).__name__,
                    exc,
                    delay,
                )
                await asyncio.sleep(delay)

    async def poll_once(self, wait_time_s: int | None = None) -> int:
        """One long-poll receive and its messages handled; the number of messages."""
        sqs = await self._aws.client("sqs")
        response = await sqs.receive_message(
            QueueUrl=self.config.response_queue_url,
            MaxNumberOfMessages=self.config.max_messages,
            WaitTimeSeconds=self.config.wait_time_s if wait_time_s is None else wait_time_s,
            VisibilityTimeout=self.config.visibility_timeout_s,
            AttributeNames=["ApproximateReceiveCount"],
        )
        messages = response.get("Messages", [])
        # Together: a standard queue keeps no order, and what one receiver holds in flight is
        # bounded by what it received (max_messages).
        done = await asyncio.gather(*(self._handle(sqs, message) for message in messages))
        receipts = [receipt for receipt in done if receipt is not None]
        if receipts:
            # One DeleteMessageBatch for what was handled: a delete that fails only brings a
            # message back after its visibility timeout, as a duplicate answered as such.
            with contextlib.suppress(Exception):
                await sqs.delete_message_batch(
                    QueueUrl=self.config.response_queue_url,
                    Entries=[{"Id": str(n), "ReceiptHandle": r} for n, r in enumerate(receipts)],
                )
        return len(messages)

    async def _handle(self, sqs: Any, message: dict[str, Any]) -> str | None:
        """Handle one message; its receipt handle when it may be deleted now."""
        body = (message.get("Body") or "").encode()
        receipt = str(message["ReceiptHandle"])
        verdict = await handle(body, self._sink, self.key)
        if verdict.action is Action.RETRY:
            self._count("retry")
            count = int(message.get("Attributes", {}).get("ApproximateReceiveCount", "1"))
            delay = min(self.config.max_backoff_s, 2 ** max(0, count - 1))
            with contextlib.suppress(Exception):  # if this fails, the visibility timeout holds
                await sqs.change_message_visibility(
                    QueueUrl=self.config.response_queue_url,
                    ReceiptHandle=receipt,
                    VisibilityTimeout=delay,
                )
            return None
        if verdict.action is Action.POISON and not await self.dead_letter(verdict, body):
            return None  # not parked: keep the message, it comes back after its visibility
        if verdict.action is Action.ACK:
            self._admitted(verdict)
        return receipt

    def _admitted(self, verdict: Verdict) -> None:
        assert verdict.admission is not None
        self._count(verdict.admission.value)
        if verdict.admission is Admission.HELD:
            self.metrics.early_held[("", self.name)] += 1

    async def dead_letter(self, verdict: Verdict, body: bytes) -> bool:
        """Park a poison completion read from this channel's response queue on its dead-letter
        queue (logged whole at ERROR without one) and count it; ``False`` if that failed."""
        reason = verdict.reason or "unknown"
        poison = poison_envelope(
            verdict,
            body,
            source=f"sqs:{self.config.response_queue_url}",
            transport=self.name,
            now_ms=self._clock.now_ms(),
        )
        url = self.config.dead_letter_queue_url
        if url is None:
            LOG.error("await completion dropped (no dead-letter queue): %s", encode(poison))
        else:
            try:
                sqs = await self._aws.client("sqs")
                await sqs.send_message(QueueUrl=url, MessageBody=encode(poison).decode())
            except Exception as exc:
                LOG.warning("await completion could not be dead-lettered to %s: %s", url, exc)
                return False
        LOG.warning("await completion dead-lettered (%s): %s", reason, verdict.detail)
        self.metrics.dropped[(self.name, reason)] += 1
        self._count("poison")
        return True

    def _count(self, outcome: str) -> None:
        self.outcomes[outcome] = self.outcomes.get(outcome, 0) + 1

    async def aclose(self) -> None:
        """Stop receiving. A message cut off mid-handling was not deleted, so it comes back
        after its visibility timeout (to another coordinator, or this one restarted)."""
        self._closed = True
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
