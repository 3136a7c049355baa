"""How the Kafka await channel handles one partition's batch (pure: a fake consumer and sink).

Completions with different keys are admitted concurrently, those with the same key in partition
order; after a retry the committed offset is the first unhandled record, so nothing handled is
committed past and nothing unhandled is skipped.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any

from tpf.core.clock import SystemClock
from tpf.core.errors import StoreUnavailable
from tpf.kafka.connection import KafkaConnection
from tpf.transports.awaits.consume import Admission, Origin
from tpf.transports.awaits.envelopes import CompletionEnvelope
from tpf.transports.awaits.kafka import KafkaAwaitChannel, KafkaChannelConfig

TP = ("responses", 0)


@dataclass
class Record:
    offset: int
    key: bytes | None
    value: bytes


class Consumer:
    def __init__(self) -> None:
        self.seeks: list[int] = []
        self.paused = False

    def seek(self, tp: Any, offset: int) -> None:
        self.seeks.append(offset)

    def pause(self, tp: Any) -> None:
        self.paused = True


def record(offset: int, key: str, interaction: str) -> Record:
    body = {"tenantId": "t", "interactionId": interaction, "responsePayload": {"ok": True}}
    return Record(offset, key.encode(), json.dumps(body).encode())


def channel(sink: Any) -> KafkaAwaitChannel:
    config = KafkaChannelConfig(
        connection=KafkaConnection(bootstrap_servers="127.0.0.1:9"),
        request_topic="requests",
        response_topic="responses",
        dead_letter_topic=None,
    )
    return KafkaAwaitChannel(config, sink, SystemClock())


async def test_other_keys_do_not_queue_behind_a_slow_admission() -> None:
    release = asyncio.Event()
    order: list[str] = []

    async def sink(envelope: CompletionEnvelope, origin: Origin) -> Admission:
        if envelope.interaction_id == "a1":
            await asyncio.wait_for(release.wait(), 5)  # only b1 finishing lets a1 go on
        order.append(str(envelope.interaction_id))
        if envelope.interaction_id == "b1":
            release.set()
        return Admission.ADMITTED

    records = [record(10, "a", "a1"), record(11, "b", "b1"), record(12, "a", "a2")]
    consumer = Consumer()
    assert await channel(sink)._partition(consumer, TP, records) == (13, 3)
    assert order == ["b1", "a1", "a2"]  # b concurrently; a's two in partition order
    assert consumer.seeks == [] and not consumer.paused


async def test_after_a_retry_the_first_unhandled_record_is_where_reading_resumes() -> None:
    async def sink(envelope: CompletionEnvelope, origin: Origin) -> Admission:
        if envelope.interaction_id == "b1":
            raise StoreUnavailable("down (test)")
        return Admission.ADMITTED

    records = [
        record(20, "a", "a1"),
        record(21, "b", "b1"),
        record(22, "a", "a2"),
        record(23, "b", "b2"),
    ]
    consumer = Consumer()
    commit, handled = await channel(sink)._partition(consumer, TP, records)
    assert (commit, handled) == (21, 2)  # a1 and a2 admitted; b1 and b2 (its key's next) not
    assert consumer.seeks == [21] and consumer.paused


async def test_a_retry_on_the_first_record_commits_nothing() -> None:
    async def sink(envelope: CompletionEnvelope, origin: Origin) -> Admission:
        raise StoreUnavailable("down (test)")

    consumer = Consumer()
    assert await channel(sink)._partition(consumer, TP, [record(5, "a", "a1")]) == (0, 0)
    assert consumer.seeks == [5]
