"""Optional sweeper leadership: one coordinator sweeps, elected through a lease item.

The original sweeps on every coordinator, so N coordinators run N identical sweeps against the
same indexes. With ``tpf.sweeper.leader-election=true`` (DynamoDB state only) the coordinators
compete for one lease item; whoever holds it unexpired runs the sweeps (await timeouts, due
executions, the repair of unapplied completions), and renews it at a third of its length. If
the leader dies, its lease expires and another coordinator takes over on its next pass. Work
that only concerns this process (its own queue, leases and held completions) never waits for
leadership; sweeping is a safety net, so a short gap between leaders loses nothing.
"""

from __future__ import annotations

import logging
from typing import Protocol

from tpf.core.clock import Clock

LOG = logging.getLogger("tpf.supervisors.leadership")


class LeaseStore(Protocol):
    async def acquire(self, name: str, owner: str, now_ms: int, lease_ms: int) -> bool:
        """Take or extend the lease ``name`` for ``owner`` until ``now_ms + lease_ms``.

        Succeeds iff nobody holds it, its lease has expired, or ``owner`` already holds it.
        """
        ...

    async def release(self, name: str, owner: str) -> None:
        """Give the lease up if ``owner`` holds it (so a successor need not wait it out)."""
        ...


class Leadership(Protocol):
    async def is_leader(self) -> bool: ...

    async def resign(self) -> None: ...


class AlwaysLeader:
    """No election: this coordinator sweeps (the original's behaviour, and one process)."""

    async def is_leader(self) -> bool:
        return True

    async def resign(self) -> None:
        return None


class LeaseLeadership:
    SWEEPER = "sweeper"

    def __init__(self, store: LeaseStore, owner: str, clock: Clock, lease_ms: int) -> None:
        self._store = store
        self._owner = owner
        self._clock = clock
        self._lease_ms = lease_ms
        self._held_until_ms = 0
        self._leading = False

    async def is_leader(self) -> bool:
        now = self._clock.now_ms()
        # Renew well before expiry; between renewals the answer is known without a request.
        if self._leading and now < self._held_until_ms - (2 * self._lease_ms) // 3:
            return True
        try:
            won = await self._store.acquire(self.SWEEPER, self._owner, now, self._lease_ms)
        except Exception:
            LOG.exception("sweeper leadership check failed; not sweeping this pass")
            won = False
        if won != self._leading:
            LOG.info("%s sweeper leadership", "took" if won else "does not hold")
        self._leading = won
        self._held_until_ms = now + self._lease_ms if won else 0
        return won

    async def resign(self) -> None:
        if self._leading:
            self._leading = False
            await self._store.release(self.SWEEPER, self._owner)


class MemoryLeaseStore:
    """A lease store for one process (tests of the election logic)."""

    def __init__(self) -> None:
        self._leases: dict[str, tuple[str, int]] = {}

    async def acquire(self, name: str, owner: str, now_ms: int, lease_ms: int) -> bool:
        holder = self._leases.get(name)
        if holder is not None and holder[0] != owner and holder[1] > now_ms:
            return False
        self._leases[name] = (owner, now_ms + lease_ms)
        return True

    async def release(self, name: str, owner: str) -> None:
        holder = self._leases.get(name)
        if holder is not None and holder[0] == owner:
            del self._leases[name]
