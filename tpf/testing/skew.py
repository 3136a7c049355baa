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

import functools
import inspect
from collections.abc import Callable
from dataclasses import replace
from typing import Any, TypeVar, cast

from tpf.core.clock import FakeClock
from tpf.core.errors import StoreUnavailable
from tpf.stores.base import StoreSet

T = TypeVar("T")
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


class _Partitioned:
    """A store whose coroutine methods raise while ``link.cut``; everything else passes."""

    def __init__(self, inner: Any, link: Link) -> None:
        self._inner = inner
        self._link = link

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._inner, name)
        if not callable(attr):
            return attr
        link = self._link
        is_async = inspect.iscoroutinefunction(attr)

        @functools.wraps(attr)
        def call(*args: Any, **kwargs: Any) -> Any:
            if link.cut:
                link.refused += 1
                if is_async:
                    return _refuse()
                raise StoreUnavailable(CUT)
            return attr(*args, **kwargs)

        return call


async def _refuse() -> Any:
    raise StoreUnavailable(CUT)


def _wrap(store: T, link: Link) -> T:
    return cast(T, _Partitioned(store, link))


def partitionable(stores: StoreSet, link: Link) -> StoreSet:
    """``stores`` as one node sees them: the durable stores behind ``link``; nothing to close
    (the cluster closes the shared set once)."""
    wrap: Callable[[Any], Any] = functools.partial(_wrap, link=link)
    return replace(
        stores,
        executions=wrap(stores.executions),
        awaits=wrap(stores.awaits),
        held=wrap(stores.held),
        items=wrap(stores.items),
        releases=wrap(stores.releases),
        workers=wrap(stores.workers),
        artifacts=wrap(stores.artifacts),
        closers=[],
        expire_leases=None,  # shared state: another lease holder may be alive
    )
