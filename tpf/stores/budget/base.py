"""The await admission budget's Protocol (spec §4.9), its scope key and the unbounded budget.

Before the coordinator creates an itemized await's interaction it takes a slot of the budget of
the interaction's scope, ``(pipeline, await step, endpoint)``: at most ``capacity`` unresolved
interactions per scope across every execution and every coordinator sharing the store. The slot
is released when the completion is applied or the interaction ends otherwise.

A slot is a lease: it carries an expiry (the caller passes the interaction's deadline plus a
margin), so the slots of a coordinator that crashed free themselves, and whoever takes the
interaction over re-acquires with the same owner (the interaction id), which reuses the slot
instead of taking a second one. Time is an argument (``now_ms``), not a clock read, so callers
and tests decide what "now" is; a slot is unexpired while ``expires_at_ms >= now_ms``.
"""

from __future__ import annotations

from typing import Protocol

from tpf.core.streams import scope_key


class AdmissionBudget(Protocol):
    """Bounded slots per scope, each held by one owner until released or expired."""

    async def acquire(
        self, scope: str, owner: str, capacity: int, now_ms: int, expires_at_ms: int
    ) -> bool:
        """Take a slot of ``scope`` for ``owner`` (an interaction id); True when taken or when
        ``owner`` already holds one (reused, expiry extended); False when all ``capacity``
        slots are held by unexpired other owners."""
        ...

    async def release(self, scope: str, owner: str) -> None:
        """Free ``owner``'s slot (no-op when it holds none); conditional on owner + lease token."""
        ...

    async def in_use(self, scope: str, now_ms: int) -> int:
        """Unexpired slots held now (for the demo's sampler and operators)."""
        ...


# The scope key of one (pipeline, await step, endpoint): the streams' own (tpf.core.streams).
admission_scope = scope_key


def check_capacity(capacity: int) -> None:
    # A capacity below one can never admit anything: a caller passing it has a configuration
    # bug that would otherwise show up as executions parked forever.
    if capacity < 1:
        raise ValueError(f"admission capacity must be at least 1, got {capacity}")


class UnboundedAdmissionBudget:
    """``pipeline.await-admission.enabled=false``: every acquire succeeds and nothing is held,
    so callers need no "is there a budget" branch."""

    async def acquire(
        self, scope: str, owner: str, capacity: int, now_ms: int, expires_at_ms: int
    ) -> bool:
        return True

    async def release(self, scope: str, owner: str) -> None:
        return None

    async def in_use(self, scope: str, now_ms: int) -> int:
        return 0
