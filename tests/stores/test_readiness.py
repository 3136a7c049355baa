"""Readiness over store health (issue 8, break 5): DOWN from a fault until the store works
again, probed at most once a second however often it is asked. Pure logic on a fake clock with
a scripted probe; the real stores' probes are tested over HTTP (tests/http/test_store_faults.py).
"""

from __future__ import annotations

import asyncio

from tpf.core.clock import FakeClock
from tpf.core.errors import StoreUnavailable
from tpf.stores.health import PROBE_EVERY_MS, Readiness, StoreHealth


class ScriptedStore:
    """A store whose probe succeeds while ``up`` (a probe write then ends an outage)."""

    def __init__(self) -> None:
        self.up = True
        self.probes: list[bool] = []  # the ``failing`` argument of each probe
        self.hold: asyncio.Event | None = None
        self.health = StoreHealth("state store (scripted)", self.probe)

    async def probe(self, failing: bool) -> None:
        self.probes.append(failing)
        if self.hold is not None:
            await self.hold.wait()
        if not self.up:
            raise StoreUnavailable("still down")
        if failing:
            self.health.succeeded()  # the probe write committed


def readiness(store: ScriptedStore, clock: FakeClock, timeout_s: float = 2.0) -> Readiness:
    return Readiness([store.health], clock, timeout_s=timeout_s)


async def test_a_fault_is_down_at_once_and_up_after_a_probe_write_succeeds() -> None:
    clock, store = FakeClock(), ScriptedStore()
    ready = readiness(store, clock)
    assert await ready.ready()
    assert store.probes == [False]  # healthy: a trivial read

    store.up = False
    store.health.fault("disk full")
    assert not await ready.ready()  # at once, without asking the store
    assert store.probes == [False]
    clock.advance(PROBE_EVERY_MS)
    assert not await ready.ready()
    assert store.probes == [False, True]  # failing: a probe write, which fails
    assert not await ready.ready()  # and the store is left alone for a second
    assert store.probes == [False, True]

    store.up = True  # the operator freed space; nothing else writes
    clock.advance(PROBE_EVERY_MS)
    assert await ready.ready()
    assert store.probes == [False, True, True]
    assert not store.health.failing


async def test_a_write_that_succeeds_ends_the_outage_without_a_probe() -> None:
    clock, store = FakeClock(), ScriptedStore()
    ready = readiness(store, clock)
    assert await ready.ready()
    store.health.fault("disk I/O error")
    assert not await ready.ready()
    store.health.succeeded()  # a request's write committed
    clock.advance(PROBE_EVERY_MS)
    assert await ready.ready()


async def test_probes_are_paced_and_shared() -> None:
    clock, store = FakeClock(), ScriptedStore()
    ready = readiness(store, clock)
    store.hold = asyncio.Event()
    asked = [asyncio.ensure_future(ready.ready()) for _ in range(20)]
    await asyncio.sleep(0)  # every request is now waiting on the one probe
    store.hold.set()
    assert all(await asyncio.gather(*asked))
    for _ in range(100):
        assert await ready.ready()
    assert store.probes == [False]  # one probe for 120 requests within a second
    clock.advance(PROBE_EVERY_MS)
    assert await ready.ready()
    assert store.probes == [False, False]


async def test_a_store_that_does_not_answer_in_time_is_not_ready() -> None:
    clock, store = FakeClock(), ScriptedStore()
    ready = readiness(store, clock, timeout_s=0.01)
    store.hold = asyncio.Event()  # never set: the probe hangs
    assert not await ready.ready()
    assert not store.health.failing  # slow is not a fault, but not ready either
    store.hold = None
    clock.advance(PROBE_EVERY_MS)
    assert await ready.ready()
