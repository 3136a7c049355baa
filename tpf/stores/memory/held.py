"""``MemoryHeldCompletionStore``: held channel completions in a dict (lost with the process).

The ``memory`` state provider keeps nothing across a restart, so its holds need not either.
"""

from __future__ import annotations

import heapq

from tpf.core.records import HeldCompletion
from tpf.stores.rules import hold_key


class MemoryHeldCompletionStore:
    """Holds by :func:`~tpf.stores.rules.hold_key`."""

    def __init__(self) -> None:
        self._holds: dict[str, HeldCompletion] = {}

    async def hold(self, held: HeldCompletion) -> bool:
        key = hold_key(held.tenant_id, held.handle_kind, held.handle)
        if key in self._holds:
            return False
        self._holds[key] = held
        return True

    async def list(self, limit: int) -> list[HeldCompletion]:
        return [self._holds[key] for key in heapq.nsmallest(max(0, limit), self._holds)]

    async def release(self, tenant_id: str, handle_kind: str, handle: str) -> None:
        self._holds.pop(hold_key(tenant_id, handle_kind, handle), None)
