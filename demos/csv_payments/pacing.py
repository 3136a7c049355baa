"""The csv-payments provider's pacing: when answers may leave, and which Kafka offsets may be
committed.

:class:`Pacer` is the admission profile of ``TPF_CSV_ADMISSION_PROFILE`` (the original's
``slow``/``burst``), pure bookkeeping over times the caller gives; :class:`Gate` waits out the
provider's delay and the profile for a batch; :class:`OffsetTracker` lets a partition's offset
be committed only up to the first request whose answer the broker has not accepted yet. Kept
apart from :mod:`demos.csv_payments.provider` (the broker loops) so each stays small.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

DEFAULT_DELAY_S = 3.0
PROFILES = ("none", "slow", "burst")
SLOW_INTERVAL_S = 0.025  # slow: one completion per 25 ms
BURST_SIZE = 25  # burst: hold up to 25 completions ...
BURST_INTERVAL_S = 0.25  # ... and flush them every 0.25 s


# ---------------------------------------------------------------------------- pacing


@dataclass
class Pacer:
    """When each answer may leave (monotonic seconds), by admission profile.

    Pure bookkeeping: :meth:`schedule` takes the time and returns the release times, so tests
    drive it with made-up times. ``none`` releases at once; ``slow`` one completion per
    :data:`SLOW_INTERVAL_S` across the whole provider; ``burst`` at the next
    :data:`BURST_INTERVAL_S` tick, at most :data:`BURST_SIZE` per tick (the rest wait for the
    following ticks)."""

    profile: str = "none"
    next_free_s: float = 0.0  # slow: the first free slot
    ticks: dict[int, int] = field(default_factory=dict)  # burst: completions held per tick

    def __post_init__(self) -> None:
        if self.profile not in PROFILES:
            raise ValueError(f"admission profile must be one of {', '.join(PROFILES)}")

    def schedule(self, count: int, ready_s: float) -> list[float]:
        """Release times of ``count`` answers ready at ``ready_s``."""
        if self.profile == "slow":
            start = max(self.next_free_s, ready_s)
            times = [start + i * SLOW_INTERVAL_S for i in range(count)]
            self.next_free_s = start + count * SLOW_INTERVAL_S
            return times
        if self.profile == "burst":
            tick = math.ceil(ready_s / BURST_INTERVAL_S)
            for old in [t for t in self.ticks if t < tick]:
                del self.ticks[old]
            times = []
            for _ in range(count):
                while self.ticks.get(tick, 0) >= BURST_SIZE:
                    tick += 1
                self.ticks[tick] = self.ticks.get(tick, 0) + 1
                times.append(tick * BURST_INTERVAL_S)
            return times
        return [ready_s] * count


def release_groups(times: Iterable[float], items: Iterable[Any]) -> list[tuple[float, list[Any]]]:
    """``items`` grouped by release time, earliest first (each group leaves together)."""
    groups: dict[float, list[Any]] = {}
    for when, item in zip(times, items, strict=True):
        groups.setdefault(when, []).append(item)
    return sorted(groups.items(), key=lambda pair: pair[0])


@dataclass
class Gate:
    """Waits out the delay and the profile for a batch of requests received together."""

    delay_s: float = DEFAULT_DELAY_S
    pacer: Pacer = field(default_factory=Pacer)
    now: Callable[[], float] = time.monotonic

    async def groups(self, items: list[Any], received_s: float) -> Any:
        """Yield the items in the groups they may leave in, sleeping until each may."""
        times = self.pacer.schedule(len(items), received_s + self.delay_s)
        for when, group in release_groups(times, items):
            wait = when - self.now()
            if wait > 0:
                await asyncio.sleep(wait)
            yield group


# ---------------------------------------------------------------------------- Kafka offsets


@dataclass
class OffsetTracker:
    """Which offsets of each partition may be committed: up to the first request whose answer
    the broker has not accepted yet (answers may finish out of order; commits may not)."""

    open: dict[Any, set[int]] = field(default_factory=dict)
    seen: dict[Any, int] = field(default_factory=dict)  # the next offset after the highest taken
    committed: dict[Any, int] = field(default_factory=dict)

    def taken(self, partition: Any, offset: int) -> None:
        self.open.setdefault(partition, set()).add(offset)
        self.seen[partition] = max(self.seen.get(partition, 0), offset + 1)

    def answered(self, partition: Any, offset: int) -> None:
        self.open.get(partition, set()).discard(offset)

    def committable(self) -> dict[Any, int]:
        """The offsets to commit now (only partitions that moved since the last commit)."""
        out = {}
        for partition, after in self.seen.items():
            pending = self.open.get(partition)
            offset = min(pending) if pending else after
            if offset > self.committed.get(partition, -1):
                out[partition] = offset
        return out

    def mark_committed(self, offsets: dict[Any, int]) -> None:
        self.committed.update(offsets)
