"""Time from an injected clock.

Production code never calls ``time.time()`` directly: it asks a :class:`Clock`. Tests use
:class:`FakeClock` and advance it instead of sleeping, so timeouts, leases and backoff are
deterministic.
"""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    """Wall-clock milliseconds since the epoch."""

    def now_ms(self) -> int: ...


class SystemClock:
    """The real wall clock."""

    def now_ms(self) -> int:
        return time.time_ns() // 1_000_000


class FakeClock:
    """A clock that only moves when a test says so."""

    def __init__(self, start_ms: int = 1_760_000_000_000) -> None:
        self._now_ms = start_ms

    def now_ms(self) -> int:
        return self._now_ms

    def advance(self, ms: int) -> int:
        """Move time forward by ``ms`` and return the new time."""
        if ms < 0:
            raise ValueError("a clock only moves forward")
        self._now_ms += ms
        return self._now_ms

    def set(self, now_ms: int) -> None:
        self._now_ms = now_ms
