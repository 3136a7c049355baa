"""HandOffCommits with a stand-in consumer: what is committed, coalescing, and offsets kept
across a failed commit and dropped after a rebalance. Pure: no broker."""

from __future__ import annotations

import asyncio
from typing import Any

from aiokafka.errors import CommitFailedError, KafkaConnectionError

from tpf.transports.work.kafka_offsets import HandOffCommits

P0, P1 = ("work", 0), ("work", 1)


class Consumer:
    def __init__(self, assigned: set[Any]) -> None:
        self.assigned = assigned
        self.commits: list[dict[Any, int]] = []
        self.fail_with: Exception | None = None
        self.committed = asyncio.Event()

    def assignment(self) -> set[Any]:
        return self.assigned

    async def commit(self, offsets: dict[Any, int]) -> None:
        if self.fail_with is not None:
            raise self.fail_with
        self.commits.append(dict(offsets))
        self.committed.set()


async def test_the_highest_handed_offset_per_partition_is_committed_once() -> None:
    consumer = Consumer({P0, P1})
    commits = HandOffCommits("work", lambda: consumer)
    for offset in range(3):
        commits.handed(P0, offset)
    commits.handed(P1, 7)
    assert await commits.commit()
    assert consumer.commits == [{P0: 3, P1: 8}]
    assert await commits.commit()
    assert consumer.commits == [{P0: 3, P1: 8}]  # nothing new: no request


async def test_only_the_revoked_partitions_are_committed_before_a_rebalance() -> None:
    consumer = Consumer({P0, P1})
    commits = HandOffCommits("work", lambda: consumer)
    commits.handed(P0, 0)
    commits.handed(P1, 0)
    assert await commits.commit(only={P1})
    assert consumer.commits == [{P1: 1}]
    assert await commits.commit()
    assert consumer.commits == [{P1: 1}, {P0: 1}]


async def test_a_failed_commit_keeps_the_offsets_for_the_next_try() -> None:
    consumer = Consumer({P0})
    commits = HandOffCommits("work", lambda: consumer)
    commits.handed(P0, 4)
    consumer.fail_with = KafkaConnectionError("broker gone")
    assert not await commits.commit()
    assert commits.errors == 1
    consumer.fail_with = None
    commits.handed(P0, 5)
    assert await commits.commit()
    assert consumer.commits == [{P0: 6}]


async def test_offsets_of_partitions_that_moved_on_are_dropped() -> None:
    consumer = Consumer({P0, P1})
    commits = HandOffCommits("work", lambda: consumer)
    commits.handed(P0, 1)
    consumer.fail_with = CommitFailedError("rebalanced")
    assert await commits.commit()  # not transient: the new owner redelivers
    consumer.fail_with = None
    commits.handed(P1, 2)
    consumer.assigned = {P0}
    assert await commits.commit()
    assert consumer.commits == []  # P0 was dropped after the refusal, P1 is not ours now


async def test_the_background_loop_commits_what_is_handed_off() -> None:
    consumer = Consumer({P0})
    commits = HandOffCommits("work", lambda: consumer)
    task = asyncio.create_task(commits.run())
    try:
        commits.handed(P0, 0)
        await asyncio.wait_for(consumer.committed.wait(), 5)
        assert consumer.commits == [{P0: 1}]
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
