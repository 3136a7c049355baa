"""The ``kafka`` DLQ sink (``dlq-provider=kafka``): one record per terminally failed execution.

The record's value is the same JSON the ``sqs`` sink sends (the original's
:class:`~tpf.core.records.DeadLetterEnvelope` fields, spec §3.6, encoded by that sink's own
function so the two cannot drift); its key is the execution id, so every envelope of one
execution (a re-driven execution can fail again) lands on one partition, in order.

The producer waits for ``acks=all``: ``publish`` returns only once the envelope is on every
in-sync replica, since the dead-letters supervisor drops its outbox entry when we return. Any
failure, including a publish that outlives ``publish_timeout_s``, raises
:class:`~tpf.core.errors.RetryableError`; the supervisor keeps the entry and retries. A retry
after an ambiguous failure may publish the envelope twice; consumers dedupe on
``transitionKey``, as for the SQS sink.
"""

from __future__ import annotations

import asyncio
from typing import Any

from tpf.core.errors import RetryableError
from tpf.core.records import DeadLetterEnvelope
from tpf.kafka.connection import KafkaConnection
from tpf.kafka.producer import start_producer
from tpf.transports.dlq.sqs import _spec_body as spec_body  # one encoding for both sinks


class KafkaDeadLetterSink:
    def __init__(
        self, connection: KafkaConnection, topic: str, *, publish_timeout_s: float = 30.0
    ) -> None:
        if not topic:
            raise ValueError("KafkaDeadLetterSink needs a topic")
        self._connection = connection
        self.topic = topic
        self._timeout_s = publish_timeout_s
        self._producer: Any = None
        self._starting = asyncio.Lock()
        self._closed = False
        self.published = 0

    async def start(self) -> None:
        """Connect the producer. A broker that is down raises ``RetryableError``; a sink whose
        start failed still connects on its first publish, so a late broker is not fatal."""
        await self._ensure_producer()

    async def _ensure_producer(self) -> Any:
        async with self._starting:
            if self._closed:
                raise RetryableError("the Kafka DLQ sink is closed")
            if self._producer is not None:
                return self._producer
            producer = await start_producer(
                self._connection, self._timeout_s, f"Kafka DLQ producer for {self.topic}"
            )
            self._producer = producer
            return producer

    async def publish(self, envelope: DeadLetterEnvelope) -> None:
        what = f"DLQ publish of execution {envelope.execution_id} to Kafka topic {self.topic}"
        try:
            producer = await self._ensure_producer()
        except RetryableError as exc:
            raise RetryableError(f"{what} failed: {exc}") from exc
        try:
            await asyncio.wait_for(
                producer.send_and_wait(
                    self.topic,
                    value=spec_body(envelope).encode(),
                    key=envelope.execution_id.encode(),
                ),
                self._timeout_s,
            )
        except Exception as exc:
            raise RetryableError(f"{what} failed: {type(exc).__name__}: {exc}") from exc
        self.published += 1

    async def aclose(self) -> None:
        """Stop the producer (it sends what it holds first); later publishes raise."""
        async with self._starting:
            self._closed = True
            producer, self._producer = self._producer, None
        if producer is not None:
            await producer.stop()
