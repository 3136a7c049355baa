"""``MemoryAdmissionBudget``: the admission budget of one process (``store=memory``).

Slots are counted, not numbered: a scope is ``{owner: expires_at_ms}``. Each method runs to
completion without awaiting, so on one event loop a check and the take that follows it cannot
interleave with another acquirer's, and ``capacity`` is never exceeded without a lock. Expired
slots are dropped when an acquirer needs room, which is when they matter.

It bounds the interactions this process creates only; coordinators sharing a store need the
``dynamo`` budget for one bound across all of them.
"""

from __future__ import annotations

from tpf.stores.budget.base import check_capacity


class MemoryAdmissionBudget:
    """An :class:`~tpf.stores.budget.base.AdmissionBudget` in a dict."""

    def __init__(self) -> None:
        self._held: dict[str, dict[str, int]] = {}

    async def acquire(
        self, scope: str, owner: str, capacity: int, now_ms: int, expires_at_ms: int
    ) -> bool:
        check_capacity(capacity)
        held = self._held.setdefault(scope, {})
        if owner in held:
            # Reuse (a takeover re-acquiring, a retried create): never shorten a lease someone
            # was promised, and never count the owner twice.
            held[owner] = max(held[owner], expires_at_ms)
            return True
        for other, expiry in list(held.items()):
            if expiry < now_ms:  # its coordinator crashed or forgot it: the slot is free again
                del held[other]
        if len(held) >= capacity:
            return False
        held[owner] = expires_at_ms
        return True

    async def release(self, scope: str, owner: str) -> None:
        held = self._held.get(scope)
        if held is None:
            return
        held.pop(owner, None)
        if not held:
            del self._held[scope]  # a finished scope leaves nothing behind

    async def in_use(self, scope: str, now_ms: int) -> int:
        return sum(1 for expiry in self._held.get(scope, {}).values() if expiry >= now_ms)
