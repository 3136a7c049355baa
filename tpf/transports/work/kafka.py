"""The ``kafka`` work queue (``dispatcher-provider=kafka``): work items on a partitioned topic.

A record's value is the same JSON as an SQS work message, ``{"tenantId", "executionId"}``; it
only says "look at execution X". Its key is the execution id, so one execution's items land on
one partition and are received in the order they were sent. Every coordinator subscribes with
the same consumer group, which splits the partitions between them; Kafka moves a dead member's
partitions to the survivors.

**Commit on hand-off**, like the SQS queue's delete on hand-off (see
:mod:`tpf.transports.work.sqs`): a record's offset is committed once :meth:`receive` has
handed its item to the consumer loop, not after the transition commits. The store is the truth:
an execution whose item was handed off and then lost with this process is still due in the store
(or holds a lease that expires) and the sweeper re-dispatches it; a repeated item is fenced by
the lease claim and the record's version. Records fetched but not yet handed off are *not*
committed, so a consumer that stops or dies leaves them to the group (they are redelivered from
the last committed offset). Commits run in the background, coalesced per partition (the highest
handed offset), and are flushed before partitions are revoked in a rebalance and on
:meth:`close`; a commit the group refuses because it rebalanced meanwhile only means the new
owner sees those items again.

**Delays** stay in this process, in the in-process delay heap
(:class:`~tpf.transports.work.inproc.InProcessWorkQueue`): Kafka has no per-record delay, and a
delayed item is a retry this coordinator scheduled for an execution it just ran. If the
process dies first, the store's ``next_due`` still says when the execution is due, and the
sweeper dispatches it then. Delay-0 items always go through the topic.

**Errors.** A failed or timed-out publish raises :class:`~tpf.core.errors.RetryableError`.
Consumer failures (broker unreachable, a failed join) are logged and retried with backoff
(1 s doubling to 30 s), as are failed commits (:mod:`.offsets`); undecodable records are
skipped (their offset committed) and counted in ``malformed``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from dataclasses import dataclass
from typing import Any

import msgspec
from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener

from tpf.core.clock import Clock
from tpf.core.errors import RetryableError
from tpf.core.records import WorkItem
from tpf.kafka.connection import KafkaConnection
from tpf.kafka.producer import start_producer
from tpf.transports.work.inproc import InProcessWorkQueue
from tpf.transports.work.kafka_offsets import HandOffCommits
from tpf.transports.work.sqs_batches import decode_item

LOG = logging.getLogger("tpf.transports.kafka")
_BACKOFF_MAX_S = 30.0


@dataclass(slots=True)
class _Fetched:
    partition: Any  # aiokafka's TopicPartition
    offset: int
    item: WorkItem | None  # None: malformed, skipped (but its offset is still committed)


class _Rebalance(ConsumerRebalanceListener):  # type: ignore[misc]
    """Flushes commits before partitions move and forgets their unhanded records."""

    def __init__(self, queue: KafkaWorkQueue) -> None:
        self._queue = queue

    async def on_partitions_revoked(self, revoked: Any) -> None:
        await self._queue._revoked(set(revoked))

    async def on_partitions_assigned(self, assigned: Any) -> None:
        self._queue._assigned(set(assigned))


class KafkaWorkQueue:
    def __init__(
        self,
        connection: KafkaConnection,
        clock: Clock,
        *,
        topic: str,
        group_id: str,
        max_buffered: int = 100,
        poll_timeout_ms: int = 1_000,
        session_timeout_ms: int = 10_000,
        heartbeat_interval_ms: int = 3_000,
        rebalance_timeout_ms: int | None = None,
        send_timeout_s: float = 30.0,
    ) -> None:
        if not topic or not group_id:
            raise ValueError("KafkaWorkQueue needs a topic and a consumer group")
        self._connection = connection
        self.topic = topic
        self.group_id = group_id
        # Records fetched ahead of hand-off are this member's until a rebalance, so read ahead
        # only a bounded amount.
        self._high_water = max(1, max_buffered)
        self._poll_ms = poll_timeout_ms
        self._session_ms = session_timeout_ms
        self._heartbeat_ms = heartbeat_interval_ms
        # How long a rebalance waits for members to rejoin; a join waits about this long too.
        self._rebalance_ms = rebalance_timeout_ms
        self._send_timeout_s = send_timeout_s
        self._buffer: deque[_Fetched] = deque()
        self._signal = asyncio.Event()  # something may be receivable
        self._fetch_signal = asyncio.Event()  # records were fetched from the topic
        self._space = asyncio.Event()  # the buffer dropped below the high-water mark
        self._here = InProcessWorkQueue(clock, signal=self._signal)  # delayed items
        self._next_offset: dict[Any, int] = {}  # partition -> offset after the last fetched
        self._commits = HandOffCommits(topic, lambda: self._consumer)
        self._assignment: frozenset[tuple[str, int]] = frozenset()
        self._has_assignment = asyncio.Event()
        self._producer: Any = None
        self._producer_lock = asyncio.Lock()
        self._consumer: Any = None
        self._tasks: list[asyncio.Task[None]] = []
        self._closed = False
        self.malformed = 0
        self.delivered = 0  # items received from the topic and handed to the consumer
        self._consumer_errors = 0

    @property
    def errors(self) -> int:
        """Consumer and commit failures (logged and retried)."""
        return self._consumer_errors + self._commits.errors

    # ------------------------------------------------------------------ sending

    async def enqueue(self, item: WorkItem, delay_ms: int = 0) -> None:
        if self._closed:
            raise RetryableError("the Kafka work queue is closed")
        if delay_ms > 0:
            await self._here.enqueue(item, delay_ms)
            return
        producer = await self._ensure_producer()
        try:
            await asyncio.wait_for(
                producer.send_and_wait(
                    self.topic,
                    value=msgspec.json.encode(item),
                    key=item.execution_id.encode(),
                ),
                self._send_timeout_s,
            )
        except Exception as exc:
            raise RetryableError(
                f"work item for execution {item.execution_id} could not be sent to Kafka topic "
                f"{self.topic}: {type(exc).__name__}: {exc}"
            ) from exc

    async def _ensure_producer(self) -> Any:
        async with self._producer_lock:
            if self._producer is None:
                self._producer = await start_producer(
                    self._connection, self._send_timeout_s, f"Kafka producer for {self.topic}"
                )
            return self._producer

    # ------------------------------------------------------------------ receiving

    async def start(self) -> None:
        """Connect the producer and start consuming (the group join runs in the background)."""
        await self._ensure_producer()
        self._ensure_started()

    def _ensure_started(self) -> None:
        if self._tasks or self._closed:
            return
        self._tasks = [
            asyncio.create_task(self._consume_loop(), name=f"tpf-kafka-consumer-{self.topic}"),
            asyncio.create_task(self._commits.run(), name=f"tpf-kafka-commit-{self.topic}"),
        ]

    async def _open_consumer(self) -> Any:
        consumer = AIOKafkaConsumer(
            **self._connection.client_kwargs(),
            group_id=self.group_id,
            enable_auto_commit=False,
            # A group's first member must see items sent before it joined.
            auto_offset_reset="earliest",
            session_timeout_ms=self._session_ms,
            heartbeat_interval_ms=self._heartbeat_ms,
            rebalance_timeout_ms=self._rebalance_ms,
            max_poll_records=self._high_water,
        )
        consumer.subscribe([self.topic], listener=_Rebalance(self))
        try:
            await consumer.start()
        except BaseException:
            with contextlib.suppress(Exception):
                await consumer.stop()
            raise
        return consumer

    async def _consume_loop(self) -> None:
        backoff = 1.0
        while not self._closed:
            try:
                if self._consumer is None:
                    self._consumer = await self._open_consumer()
                room = self._high_water - len(self._buffer)
                if room <= 0:
                    self._space.clear()
                    await self._space.wait()
                    continue
                batches = await self._consumer.getmany(timeout_ms=self._poll_ms, max_records=room)
            except Exception as exc:
                self._consumer_errors += 1
                LOG.warning(
                    "Kafka consumer of %s failed: %s: %s; retrying in %.0f s",
                    self.topic,
                    type(exc).__name__,
                    exc,
                    backoff,
                )
                await asyncio.sleep(backoff)
                backoff = min(_BACKOFF_MAX_S, backoff * 2)
                continue
            backoff = 1.0
            self._accept(batches)

    def _accept(self, batches: dict[Any, list[Any]]) -> None:
        assigned = self._consumer.assignment()
        for partition, records in batches.items():
            if partition not in assigned:  # revoked while the fetch was in flight
                continue
            for record in records:
                self._next_offset[partition] = record.offset + 1
                item = decode_item((record.value or b"").decode(errors="replace"))
                if item is None:
                    self.malformed += 1
                    LOG.warning(
                        "skipping malformed work record %s[%d]@%d",
                        partition.topic,
                        partition.partition,
                        record.offset,
                    )
                self._buffer.append(_Fetched(partition, record.offset, item))
        if self._buffer:
            self._signal.set()
            self._fetch_signal.set()

    async def receive(self, max_items: int) -> list[WorkItem]:
        self._ensure_started()
        out = await self._here.receive(max_items)
        while self._buffer and len(out) < max_items:
            fetched = self._buffer.popleft()
            # The buffer keeps each partition's records in offset order, so this is the
            # highest offset handed off on that partition: see the module docstring.
            self._commits.handed(fetched.partition, fetched.offset)
            if fetched.item is not None:
                out.append(fetched.item)
                self.delivered += 1
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
        return len(self._buffer) + self._here.depth() + sum(self.lag().values())

    def lag(self) -> dict[tuple[str, int], int]:
        """Per assigned partition: records on the broker this member has not fetched yet
        (from the high-water mark of the last fetch; a metric, so approximate)."""
        consumer = self._consumer
        if consumer is None:
            return {}
        lag: dict[tuple[str, int], int] = {}
        for partition in consumer.assignment():
            high = consumer.highwater(partition)
            fetched = self._next_offset.get(partition)
            if high is not None and fetched is not None:
                lag[(partition.topic, partition.partition)] = max(0, high - fetched)
        return lag

    @property
    def fetched(self) -> int:
        """Records fetched from the topic and not handed off yet (uncommitted)."""
        return len(self._buffer)

    async def wait_fetched(self, count: int, timeout_s: float) -> None:
        """Return once ``count`` records are fetched and not handed off (``TimeoutError``
        after ``timeout_s``); for tests and diagnostics: it hands nothing off."""
        self._ensure_started()
        async with asyncio.timeout(timeout_s):
            while len(self._buffer) < count:
                self._fetch_signal.clear()
                await self._fetch_signal.wait()

    @property
    def assignment(self) -> frozenset[tuple[str, int]]:
        """The ``(topic, partition)`` pairs this member holds now."""
        return self._assignment

    async def wait_assigned(self, timeout_s: float) -> frozenset[tuple[str, int]]:
        """Start consuming and return once this member holds partitions (``TimeoutError``
        after ``timeout_s``): the group join takes about a session timeout."""
        self._ensure_started()
        await asyncio.wait_for(self._has_assignment.wait(), timeout_s)
        return self._assignment

    # ------------------------------------------------------------------ rebalances & commits

    def _assigned(self, assigned: set[Any]) -> None:
        self._assignment = frozenset((p.topic, p.partition) for p in assigned)
        if assigned:
            self._has_assignment.set()

    async def _revoked(self, revoked: set[Any]) -> None:
        # Hand-offs so far are this member's to commit; what is still buffered is not, and the
        # next owner fetches it again from the committed offset.
        await self._commits.commit(only=revoked)
        self._buffer = deque(f for f in self._buffer if f.partition not in revoked)
        for partition in revoked:
            self._next_offset.pop(partition, None)
        self._assignment = frozenset()
        self._has_assignment.clear()
        self._space.set()

    # ------------------------------------------------------------------ closing

    async def close(self) -> None:
        """Stop consuming, commit what was handed off, leave the group and stop the producer.

        Records fetched but not handed off stay uncommitted: the group's next owner of their
        partition receives them.
        """
        if self._closed:
            return
        self._closed = True
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self._commits.commit()
        self._buffer.clear()
        consumer, self._consumer = self._consumer, None
        if consumer is not None:
            await consumer.stop()
        async with self._producer_lock:
            producer, self._producer = self._producer, None
        if producer is not None:
            await producer.stop()
        await self._here.close()
