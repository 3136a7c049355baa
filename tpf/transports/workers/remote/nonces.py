"""Nonce guards: a signed request's nonce is accepted once.

The original keeps nonces per process, so a request replayed to another replica of a worker is
accepted (spec §7.2 GAP). A :class:`NonceGuard` may be shared by every replica (the SQLite and
DynamoDB guards in ``tpf.stores``); :class:`MemoryNonceGuard` is the per-process fallback for a
worker without a store, bounded like the original's (10 000 nonces).
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Protocol

from tpf.core.clock import Clock


class NonceGuard(Protocol):
    async def claim(self, nonce: str, expires_at_ms: int) -> bool:
        """Record ``nonce`` until ``expires_at_ms`` (its timestamp plus the tolerance: after
        that the timestamp check refuses it anyway); ``False`` if it was already recorded."""
        ...

    async def aclose(self) -> None: ...


class MemoryNonceGuard:
    def __init__(self, clock: Clock, capacity: int = 10_000) -> None:
        self._clock = clock
        self._capacity = capacity
        self._seen: OrderedDict[str, int] = OrderedDict()

    async def claim(self, nonce: str, expires_at_ms: int) -> bool:
        self._purge()
        if nonce in self._seen:
            return False
        if len(self._seen) >= self._capacity:
            # Full of unexpired nonces: refusing is safer than forgetting one (a replay window).
            return False
        self._seen[nonce] = expires_at_ms
        return True

    def _purge(self) -> None:
        # Oldest first: expiries arrive nearly in order (timestamp + one tolerance), so stopping
        # at the first live one keeps a claim O(1) and forgets a late one a little later.
        now = self._clock.now_ms()
        while self._seen:
            nonce, at = next(iter(self._seen.items()))
            if at >= now:
                break
            del self._seen[nonce]

    async def aclose(self) -> None:
        self._seen.clear()
