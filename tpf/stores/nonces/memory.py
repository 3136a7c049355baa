"""``MemoryNonceGuard``: the per-process nonce guard, for a worker without a shared store.

Bounded like the original's (10 000 nonces): replicas of a worker each keep their own, so a
request replayed to another replica is accepted (the spec §7.2 GAP the shared guards close).
"""

from __future__ import annotations

from collections import OrderedDict

from tpf.core.clock import Clock


class MemoryNonceGuard:
    def __init__(self, clock: Clock, capacity: int = 10_000) -> None:
        self._clock = clock
        self._capacity = capacity
        self._seen: OrderedDict[str, int] = OrderedDict()

    async def claim(self, nonce: str, expires_at_ms: int) -> bool:
        now = self._purge()
        at = self._seen.get(nonce)
        if at is not None:
            if at >= now:
                return False
            del self._seen[nonce]  # expired behind a live one: its request is stale anyway
        if len(self._seen) >= self._capacity:
            # Full of unexpired nonces: refusing is safer than forgetting one (a replay window).
            return False
        self._seen[nonce] = expires_at_ms
        return True

    def _purge(self) -> int:
        # Oldest first: expiries arrive nearly in order (timestamp + one tolerance), so stopping
        # at the first live one keeps a claim O(1) and forgets a late one a little later.
        now = self._clock.now_ms()
        while self._seen:
            nonce, at = next(iter(self._seen.items()))
            if at >= now:
                break
            del self._seen[nonce]
        return now

    async def aclose(self) -> None:
        self._seen.clear()
