"""Commit-on-hand-off bookkeeping for the Kafka work queue (:mod:`.work_queue`).

Per partition it keeps the offset after the last record handed off and not yet committed, and
commits those offsets in the background, coalesced: while one commit is in flight, later
hand-offs only raise the offset the next commit sends. Each partition's records are handed off
in offset order, so the highest handed offset covers every earlier record of that partition.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from aiokafka.errors import CommitFailedError, IllegalStateError

LOG = logging.getLogger("tpf.transports.kafka")
_RETRY_S = 1.0


class HandOffCommits:
    def __init__(self, topic: str, consumer: Callable[[], Any]) -> None:
        """``consumer`` returns the current aiokafka consumer, or ``None`` before it exists."""
        self._topic = topic
        self._consumer = consumer
        self._pending: dict[Any, int] = {}  # partition -> next offset to commit
        self._wanted = asyncio.Event()
        self._lock = asyncio.Lock()  # one commit at a time, so offsets never go backwards
        self.errors = 0

    def handed(self, partition: Any, offset: int) -> None:
        """The record at ``offset`` of ``partition`` was handed off: commit past it."""
        self._pending[partition] = offset + 1
        self._wanted.set()

    async def run(self) -> None:
        """Commit whenever something was handed off, until cancelled."""
        while True:
            await self._wanted.wait()
            self._wanted.clear()
            if not await self.commit():
                await asyncio.sleep(_RETRY_S)  # transient; the offsets were kept for the retry
                self._wanted.set()

    async def commit(self, only: set[Any] | None = None) -> bool:
        """Commit the pending offsets (of ``only``'s partitions); False on a transient failure
        (the offsets are kept for the next try)."""
        async with self._lock:
            consumer = self._consumer()
            if consumer is None:
                return True
            assigned = consumer.assignment()
            for partition in [p for p in self._pending if p not in assigned]:
                # The partition moved on: its new owner receives those items again (harmless,
                # the store is the truth), and this member may no longer commit for it.
                del self._pending[partition]
            offsets = {p: o for p, o in self._pending.items() if only is None or p in only}
            if not offsets:
                return True
            # Removed only once committed, so a commit cut short (a failure, or cancellation
            # on close) leaves them for the next one.
            try:
                await consumer.commit(offsets)
            except (CommitFailedError, IllegalStateError) as exc:
                LOG.info("Kafka commit on %s skipped after a rebalance: %s", self._topic, exc)
            except Exception as exc:
                self.errors += 1
                LOG.warning(
                    "Kafka commit on %s failed: %s: %s", self._topic, type(exc).__name__, exc
                )
                return False
            for partition, offset in offsets.items():
                if self._pending.get(partition) == offset:  # not raised meanwhile
                    del self._pending[partition]
            return True
