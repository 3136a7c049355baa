"""Per-node clocks and store partitions for :mod:`tpf.testing.cluster`.

:class:`SkewedClock` is one node's view of a shared :class:`~tpf.core.clock.FakeClock` with a
settable offset (a node whose NTP drifted). :func:`partitionable` wraps a store so that every
call raises :class:`~tpf.core.errors.StoreUnavailable` while its node is cut off.

A partition raises rather than hangs because that is what the code sees from a real one: the
AWS SDK and SQLite both give up after their connect/read timeouts and raise, and the store
adapters turn that into ``StoreUnavailable``. On a fake clock those timeouts last no time, so
raising at once is the partition as the coordinator experiences it; a hang would only block the
node's actors on the event loop, which no real timeout-bounded client does.
"""

from __future__ import annotations

from tpf.core.clock import FakeClock
from tpf.core.errors import StoreUnavailable
from tpf.stores.base import StoreSet
from tpf.testing.gate import guarded_stores

CUT = "partitioned from the store (tpf.testing.cluster)"


class SkewedClock:
    """``base`` shifted by ``skew_ms`` (positive: this node's clock runs ahead)."""

    def __init__(self, base: FakeClock, skew_ms: int = 0) -> None:
        self.base = base
        self.skew_ms = skew_ms

    def now_ms(self) -> int:
        return self.base.now_ms() + self.skew_ms


class Link:
    """Whether one node can reach the store, and how many calls the cut refused."""

    def __init__(self) -> None:
        self.cut = False
        self.refused = 0

    def check(self) -> None:
        """Refuse a store call while cut off, as a timed-out client raises."""
        if self.cut:
            self.refused += 1
            raise StoreUnavailable(CUT)


def partitionable(stores: StoreSet, link: Link) -> StoreSet:
    """``stores`` as one node sees them: the durable stores behind ``link``; nothing to close
    (the cluster closes the shared set once)."""
    return guarded_stores(stores, link.check, shared=True)
