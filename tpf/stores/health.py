"""State-store health: store faults become one error and one log line, and readiness knows.

A store adapter (the SQLite thread, the DynamoDB client edge) turns a fault of its backend (disk
full, I/O error, read-only or corrupted database, DynamoDB unreachable or answering 5xx) into
:class:`~tpf.errors.StoreUnavailable` and records it with :meth:`StoreHealth.fault`: callers get
the generic, retryable 503 and the detail goes to the log, the first fault of an outage at once and
then one line per :data:`LOG_EVERY_MS` with the number of faults in between, so a failing disk
under load does not flood the log. :meth:`StoreHealth.succeeded` (a write committed, a DynamoDB
call answered) ends the outage with one line.

:class:`Readiness` is what ``/q/health/ready`` asks. A store is DOWN from a fault until it
succeeds again; while it is DOWN a readiness request probes it with a write (so a coordinator
taken out of rotation, and so idle, notices the recovery by itself), while it is UP with a
trivial read under a short timeout (so a store that stopped answering is noticed before any
request fails). Probes run at most once per :data:`PROBE_EVERY_MS` per store, and for that long
after a fault is first seen readiness stays DOWN without probing: however often a load balancer
asks, the store sees at most one probe a second.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from tpf.core.clock import Clock, SystemClock
from tpf.core.errors import StoreUnavailable

LOG = logging.getLogger("tpf.stores")

LOG_EVERY_MS = 5_000  # while faults go on, one log line per this long
PROBE_EVERY_MS = 1_000  # at most one readiness probe per store this often
PROBE_TIMEOUT_S = 2.0  # a store that takes longer to answer a probe is not ready

# ``probe(failing)``: a write while the store is failing (what must work again), else a trivial
# read; returns normally iff the store answered.
Probe = Callable[[bool], Awaitable[None]]


class StoreHealth:
    """Whether one store's latest operations failed, and how to probe it.

    Faults may be recorded from the SQLite thread, hence the lock.
    """

    def __init__(self, name: str, probe: Probe, *, clock: Clock | None = None) -> None:
        self.name = name  # "state store (SQLite /x/tpf.sqlite3)": log lines only
        self.probe = probe
        self.faults = 0  # every fault ever recorded (readiness notices new ones by this)
        self._failing = False
        self._clock = clock or SystemClock()  # paces the log lines only
        self._lock = threading.Lock()
        self._logged_at_ms: int | None = None
        self._unlogged = 0

    @property
    def failing(self) -> bool:
        return self._failing

    @staticmethod
    def error(detail: str, cause: BaseException | None = None) -> StoreUnavailable:
        """The error one caller of a (recorded) fault raises: its own, chained to ``cause``."""
        error = StoreUnavailable(detail)
        error.__cause__ = cause
        return error

    def fault(self, detail: str) -> None:
        """Record a fault and log its detail (the first of an outage, then paced)."""
        with self._lock:
            now = self._clock.now_ms()
            self.faults += 1
            ongoing = self._failing and self._logged_at_ms is not None
            self._failing = True
            if ongoing and now - (self._logged_at_ms or 0) < LOG_EVERY_MS:
                self._unlogged += 1
                return
            unlogged, self._unlogged = self._unlogged, 0
            self._logged_at_ms = now
        more = f" ({unlogged} more faults since the last line)" if unlogged else ""
        LOG.error(
            "%s failed: %s%s; requests that need it answer 503 STORE_UNAVAILABLE and "
            "/q/health/ready is DOWN until it works again",
            self.name,
            detail,
            more,
        )

    def succeeded(self) -> None:
        """The store worked again (a write committed, a call answered): the outage is over."""
        if not self._failing:  # the hot path: no lock
            return
        with self._lock:
            if not self._failing:
                return
            self._failing = False
            unlogged, self._unlogged = self._unlogged, 0
            self._logged_at_ms = None
        more = f" ({unlogged} more faults since the last line)" if unlogged else ""
        LOG.warning("%s works again%s", self.name, more)


@dataclass
class _Seen:
    """What readiness last learnt about one store."""

    faults: int = 0
    fault_seen_ms: int | None = None  # when readiness first saw the latest fault
    probed_ms: int | None = None
    probed_faults: int = 0  # ``faults`` when it was probed
    ok: bool = False


class Readiness:
    """Whether every store answers, for ``/q/health/ready`` (see the module docstring)."""

    def __init__(
        self,
        stores: Sequence[StoreHealth],
        clock: Clock,
        *,
        probe_every_ms: int = PROBE_EVERY_MS,
        timeout_s: float = PROBE_TIMEOUT_S,
    ) -> None:
        self._stores = list(stores)
        self._clock = clock
        self._every_ms = probe_every_ms
        self._timeout_s = timeout_s
        self._seen = {id(s): _Seen() for s in self._stores}
        self._locks = {id(s): asyncio.Lock() for s in self._stores}

    async def ready(self) -> bool:
        for store in self._stores:
            if not await self._check(store):
                return False
        return True

    async def _check(self, store: StoreHealth) -> bool:
        async with self._locks[id(store)]:  # concurrent requests share one probe
            seen = self._seen[id(store)]
            now = self._clock.now_ms()
            if store.faults != seen.faults:
                seen.faults = store.faults
                seen.fault_seen_ms = now
            recent = seen.probed_ms is not None and now - seen.probed_ms < self._every_ms
            if recent and seen.probed_faults == store.faults and not store.failing:
                return seen.ok
            seen_at = seen.fault_seen_ms
            fresh_fault = seen_at is not None and now - seen_at < self._every_ms
            if store.failing and (recent or fresh_fault):
                return False  # DOWN, and the store is left alone for a moment
            seen.probed_ms = now
            try:
                await asyncio.wait_for(store.probe(store.failing), self._timeout_s)
            except Exception as exc:  # StoreUnavailable, a timeout, anything: not ready
                LOG.debug("readiness probe of %s failed: %r", store.name, exc)
                seen.ok = False
            else:
                seen.ok = True
            seen.probed_faults = seen.faults = store.faults
            return seen.ok and not store.failing
