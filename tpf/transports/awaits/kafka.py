"""The ``kafka`` await channel: requests to a request topic, completions from a response topic.

**Dispatch.** :meth:`KafkaAwaitChannel.publish` produces the dispatch envelope (spec §4.7) with
``acks=all``, keyed by the key strategy (``interactionId`` or ``correlationId``) and with the
original's ``tpf-*`` headers plus the configured ones; it returns once every in-sync replica has
the record, and only then does the await dispatcher mark the interaction dispatched
(at-least-once: a consumer dedupes on ``interactionId``).

**Completions.** Every coordinator joins one consumer group on the response topic, which splits
its partitions between them; any coordinator can admit any completion. :meth:`poll_once`
(run in a loop by :meth:`start`; tests call it directly) fetches a batch and handles each
partition's records *in offset order*, one after the other, so completions with one key are
applied in partition order (partitions run concurrently). Then, per partition:

- admitted, duplicate, durably held, or poison parked on the dead-letter topic: the offset is
  committed past it, after the sink (or the dead-letter produce) returned, never before;
- transient failure: the consumer seeks back to that record and pauses the partition for a
  bounded backoff (0.1 s doubling to ``max_backoff_s``), so that record, and the ones after it,
  come again in order; nothing after it is committed.

A commit the group refuses (it rebalanced meanwhile) only means the partition's new owner sees
those completions again: duplicates, which admission acknowledges.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from typing import Any

from tpf.config.await_transport import kafka_channel_key
from tpf.core.clock import Clock
from tpf.core.errors import ConfigError, RetryableError
from tpf.core.records import AwaitInteraction
from tpf.kafka.connection import KafkaConnection
from tpf.kafka.producer import start_producer
from tpf.transports.awaits.consume import (
    Action,
    Admission,
    Backoff,
    CompletionSink,
    handle,
    poison_envelope,
)
from tpf.transports.awaits.envelopes import (
    KEY_STRATEGIES,
    DispatchEnvelope,
    encode,
    kafka_headers,
    kafka_key,
)
from tpf.transports.awaits.metrics import AwaitMetrics

LOG = logging.getLogger("tpf.awaits.kafka")


@dataclass(frozen=True, slots=True, kw_only=True)
class KafkaChannelConfig:
    connection: KafkaConnection
    request_topic: str
    response_topic: str
    key_strategy: str = "interactionId"
    consumer_group: str = "tpf-await-completions"
    dead_letter_topic: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    max_records: int = 500
    max_backoff_s: float = 30.0
    initial_backoff_s: float = 0.1
    send_timeout_s: float = 30.0
    session_timeout_ms: int = 10_000
    heartbeat_interval_ms: int = 3_000
    rebalance_timeout_ms: int | None = None
    # How long the broker may hold a fetch with nothing to return. A completion waits out at
    # most this before it is read; aiokafka's 500 ms default is tuned for throughput.
    fetch_max_wait_ms: int = 50

    def __post_init__(self) -> None:
        for name in ("request_topic", "response_topic", "consumer_group"):
            if not getattr(self, name).strip():
                raise ConfigError(f"kafka await channel: {name} is required")
        if self.key_strategy not in KEY_STRATEGIES:
            raise ConfigError(
                f"kafka await channel: key_strategy={self.key_strategy} is not one of "
                f"{', '.join(KEY_STRATEGIES)}"
            )


class KafkaAwaitChannel:
    name = "kafka"
    publishes = True

    def __init__(
        self,
        config: KafkaChannelConfig,
        sink: CompletionSink,
        clock: Clock,
        *,
        metrics: AwaitMetrics | None = None,
    ) -> None:
        self.config = config
        self._sink = sink
        self._clock = clock
        self.metrics = metrics or AwaitMetrics()
        self.key = kafka_channel_key(
            config.request_topic,
            config.response_topic,
            config.key_strategy,
            config.consumer_group,
            config.headers.items(),
        )
        self._producer: Any = None
        self._producer_lock = asyncio.Lock()
        self._consumer: Any = None
        self._consumer_lock = asyncio.Lock()
        self._paused: dict[Any, float] = {}  # partition -> loop time it may resume
        self._backoff: dict[Any, Backoff] = {}
        self._fetched: dict[Any, int] = {}  # partition -> offset after the last fetched record
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        self.published = 0
        self.outcomes: dict[str, int] = {}  # admitted / duplicate / held / poison / retry

    # ------------------------------------------------------------------ dispatch

    def transport_metadata(self, interaction: AwaitInteraction, now_ms: int) -> dict[str, Any]:
        c = self.config
        key = (
            interaction.interaction_id
            if c.key_strategy == "interactionId"
            else (interaction.correlation_id)
        )
        return {
            "adapter": "kafka",
            "requestTopic": c.request_topic,
            "responseTopic": c.response_topic,
            "keyStrategy": c.key_strategy,
            "key": key,
            "consumerGroup": c.consumer_group,
            "dispatchedAtEpochMs": now_ms,
        }

    async def publish(self, interaction: AwaitInteraction, envelope: DispatchEnvelope) -> None:
        c = self.config
        await self._send(
            c.request_topic,
            encode(envelope),
            key=kafka_key(envelope, c.key_strategy),
            headers=kafka_headers(envelope, c.response_topic, c.headers),
            what=f"await request {interaction.interaction_id}",
        )
        self.published += 1

    async def _send(
        self,
        topic: str,
        value: bytes,
        *,
        key: str | None,
        headers: list[tuple[str, bytes]],
        what: str,
    ) -> None:
        producer = await self._ensure_producer()
        try:
            await asyncio.wait_for(
                producer.send_and_wait(
                    topic, value=value, key=key.encode() if key else None, headers=headers
                ),
                self.config.send_timeout_s,
            )
        except Exception as exc:
            raise RetryableError(
                f"{what} could not be sent to Kafka topic {topic}: {type(exc).__name__}: {exc}"
            ) from exc

    async def _ensure_producer(self) -> Any:
        async with self._producer_lock:
            if self._closed:
                raise RetryableError("the Kafka await channel is closed")
            if self._producer is None:
                self._producer = await start_producer(
                    self.config.connection, self.config.send_timeout_s, "Kafka await producer"
                )
            return self._producer

    # ------------------------------------------------------------------ completions

    async def start(self) -> None:
        await self._ensure_producer()
        if self._task is None and not self._closed:
            self._task = asyncio.create_task(self._run(), name="tpf-await-kafka-consumer")

    async def _run(self) -> None:
        backoff = Backoff(1.0, 30.0)
        while not self._closed:
            try:
                await self.poll_once()
                backoff.reset()
            except Exception as exc:
                delay = backoff.next()
                LOG.warning(
                    "Kafka completion consumer of %s failed: %s: %s; retrying in %.0f s",
                    self.config.response_topic,
                    type(exc).__name__,
                    exc,
                    delay,
                )
                await asyncio.sleep(delay)

    async def _ensure_consumer(self) -> Any:
        async with self._consumer_lock:
            if self._consumer is None:
                from aiokafka import AIOKafkaConsumer

                c = self.config
                consumer = AIOKafkaConsumer(
                    c.response_topic,
                    **c.connection.client_kwargs(),
                    group_id=c.consumer_group,
                    enable_auto_commit=False,
                    # A completion sent before the group first joined must still be read.
                    auto_offset_reset="earliest",
                    max_poll_records=c.max_records,
                    session_timeout_ms=c.session_timeout_ms,
                    heartbeat_interval_ms=c.heartbeat_interval_ms,
                    rebalance_timeout_ms=c.rebalance_timeout_ms,
                    fetch_max_wait_ms=c.fetch_max_wait_ms,
                )
                try:
                    await consumer.start()
                except BaseException:
                    with contextlib.suppress(Exception):
                        await consumer.stop()
                    raise
                self._consumer = consumer
            return self._consumer

    async def poll_once(self, timeout_ms: int = 1_000) -> int:
        """Fetch one batch (waiting up to ``timeout_ms``), handle it, commit what was handled;
        the number of records handled."""
        consumer = await self._ensure_consumer()
        now = asyncio.get_running_loop().time()
        for partition, until in list(self._paused.items()):
            if until <= now:
                del self._paused[partition]
                with contextlib.suppress(Exception):  # revoked meanwhile: nothing to resume
                    consumer.resume(partition)
        batches = await consumer.getmany(timeout_ms=timeout_ms, max_records=self.config.max_records)
        for tp, records in batches.items():
            if records:
                self._fetched[tp] = records[-1].offset + 1
        results = await asyncio.gather(
            *(self._partition(consumer, tp, records) for tp, records in batches.items())
        )
        offsets = {tp: offset for tp, (offset, _) in zip(batches, results, strict=True) if offset}
        if offsets:
            try:
                await consumer.commit(offsets)
            except Exception as exc:  # rebalanced: the new owner reads them again (duplicates)
                LOG.warning(
                    "Kafka completion offsets not committed: %s: %s", type(exc).__name__, exc
                )
        return sum(handled for _, handled in results)

    async def _partition(self, consumer: Any, tp: Any, records: list[Any]) -> tuple[int, int]:
        """Handle ``records`` of one partition; ``(offset to commit or 0, handled)``.

        Records with the same key are handled in partition order, one after the other; records
        of different keys concurrently (one completion's admission waits on the store, and a
        partition of unrelated completions must not queue behind it). The offset committed is
        the first record not handled, so a retried one and everything after it are read again:
        what was already admitted then comes back as an acknowledged duplicate.
        """
        by_key: dict[bytes | None, list[Any]] = {}
        for record in records:
            by_key.setdefault(record.key, []).append(record)
        outcomes = await asyncio.gather(*(self._in_order(tp, group) for group in by_key.values()))
        unhandled = [retry_at for retry_at in outcomes if retry_at is not None]
        handled_offsets = {
            record.offset
            for group, retry_at in zip(by_key.values(), outcomes, strict=True)
            for record in group
            if retry_at is None or record.offset < retry_at
        }
        if not unhandled:
            self._backoff.pop(tp, None)
            return records[-1].offset + 1, len(handled_offsets)
        first = min(unhandled)
        self._count("retry")
        # Again from the first unhandled record, after a pause that grows while it fails.
        consumer.seek(tp, first)
        backoff = self._backoff.setdefault(
            tp, Backoff(self.config.initial_backoff_s, self.config.max_backoff_s)
        )
        self._paused[tp] = asyncio.get_running_loop().time() + backoff.next()
        consumer.pause(tp)
        # Every record before ``first`` was handled (a key stops at its own first retry).
        return (first if first > records[0].offset else 0), len(handled_offsets)

    async def _in_order(self, tp: Any, records: list[Any]) -> int | None:
        """Handle one key's records in order; the offset of the first one to retry, if any."""
        for record in records:
            value: bytes = record.value or b""
            verdict = await handle(value, self._sink, self.key)
            if verdict.action is Action.POISON and not await self._park(verdict, value, tp, record):
                verdict = type(verdict)(Action.RETRY, verdict.envelope, detail=verdict.detail)
            if verdict.action is Action.RETRY:
                return int(record.offset)
            if verdict.action is Action.ACK:
                assert verdict.admission is not None
                self._count(verdict.admission.value)
                if verdict.admission is Admission.HELD:
                    self.metrics.early_held[("", self.name)] += 1
        return None

    async def _park(self, verdict: Any, value: bytes, tp: Any, record: Any) -> bool:
        key = record.key.decode(errors="replace") if record.key else None
        source = f"kafka:{tp.topic}/{tp.partition}@{record.offset}"
        return await self.dead_letter(verdict, value, source=source, key=key)

    async def dead_letter(
        self, verdict: Any, value: bytes, *, source: str | None = None, key: str | None = None
    ) -> bool:
        """Park a poison completion read from this channel's response topic on its dead-letter
        topic (logged whole at ERROR without one) and count it; ``False`` if that failed."""
        reason = verdict.reason or "unknown"
        poison = poison_envelope(
            verdict,
            value,
            source=source or f"kafka:{self.config.response_topic}",
            transport=self.name,
            now_ms=self._clock.now_ms(),
        )
        topic = self.config.dead_letter_topic
        if topic is None:
            LOG.error("await completion dropped (no dead-letter topic): %s", encode(poison))
        else:
            try:
                await self._send(
                    topic, encode(poison), key=key, headers=[], what="poison await completion"
                )
            except RetryableError as exc:
                LOG.warning("await completion could not be dead-lettered: %s", exc)
                return False
        LOG.warning("await completion dead-lettered (%s): %s", reason, verdict.detail)
        self.metrics.dropped[(self.name, reason)] += 1
        self._count("poison")
        return True

    def _count(self, outcome: str) -> None:
        self.outcomes[outcome] = self.outcomes.get(outcome, 0) + 1

    def lag(self) -> dict[tuple[str, int], int]:
        """Per assigned partition: records on the broker this member has not fetched yet
        (from the high-water mark of the last fetch; a metric, so approximate)."""
        consumer = self._consumer
        if consumer is None:
            return {}
        lag: dict[tuple[str, int], int] = {}
        for tp in consumer.assignment():
            high, fetched = consumer.highwater(tp), self._fetched.get(tp)
            if high is not None and fetched is not None:
                lag[(tp.topic, tp.partition)] = max(0, high - fetched)
        return lag

    async def aclose(self) -> None:
        """Stop consuming and leave the group (uncommitted records go to the next owner), then
        stop the producer (it sends what it holds first)."""
        self._closed = True
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        async with self._consumer_lock:
            consumer, self._consumer = self._consumer, None
        if consumer is not None:
            await consumer.stop()
        async with self._producer_lock:
            producer, self._producer = self._producer, None
        if producer is not None:
            await producer.stop()
