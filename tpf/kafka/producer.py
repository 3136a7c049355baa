"""Starting an aiokafka producer the way every Kafka transport needs it: ``acks=all``, bounded
by a timeout, stopped again if the start fails, and a broker that cannot be reached reported
as a :class:`~tpf.errors.RetryableError` naming what wanted it and where it looked."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from tpf.core.errors import RetryableError
from tpf.kafka.connection import KafkaConnection


async def start_producer(connection: KafkaConnection, timeout_s: float, what: str) -> Any:
    """A started producer (aiokafka is imported here: only a Kafka provider loads it)."""
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(**connection.client_kwargs(), acks="all")
    try:
        await asyncio.wait_for(producer.start(), timeout_s)
    except Exception as exc:
        with contextlib.suppress(Exception):
            await producer.stop()
        raise RetryableError(
            f"{what} could not connect to {connection.bootstrap_servers}: "
            f"{type(exc).__name__}: {exc}"
        ) from exc
    return producer
