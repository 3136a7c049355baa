"""The lease keeper: renews the leases of running transitions and cancels lost ones.

The original never renews, so a step longer than ``lease-ms`` is claimed again by a sweeper and
runs twice. Here every running transition holds a :class:`Ticket`; each ``tick()`` renews the
tickets whose lease is past ``lease_renew_fraction`` of its length. A renewal that fails means
another coordinator took the execution over (the re-claim bumped its version): the transition
is cancelled at once (the worker is told, so a remote one can stop it too), and its commit
would be refused anyway by the version check.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

from tpf.actors.context import Engine
from tpf.actors.transition import LeaseLost
from tpf.core import crash_points as cp
from tpf.core.records import ExecutionRecord

LOG = logging.getLogger("tpf.leases")
T = TypeVar("T")
# Tells the worker running a transition to stop it: ``(tenant_id, execution_id)``.
OnLost = Callable[[str, str], Awaitable[None]]


class Ticket:
    __slots__ = ("execution_id", "lost", "on_lost", "renew_at_ms", "task", "tenant_id", "version")

    def __init__(
        self, record: ExecutionRecord, renew_at_ms: int, on_lost: OnLost | None = None
    ) -> None:
        self.tenant_id = record.tenant_id
        self.execution_id = record.execution_id
        self.version = record.version
        self.renew_at_ms = renew_at_ms
        self.task: asyncio.Task[Any] | None = None
        self.lost = False
        self.on_lost = on_lost


class LeaseKeeper:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._tickets: set[Ticket] = set()
        # Claims revoked before their transition started (an operator's cancel that arrived
        # between the claim and the run): ``(tenant, execution, version)``.
        self._revoked: set[tuple[str, str, int]] = set()
        lease_ms = engine.settings.execution.lease_ms
        self._renew_after_ms = max(
            1, int(lease_ms * engine.settings.execution.lease_renew_fraction)
        )

    @property
    def interval_s(self) -> float:
        return max(0.05, self._renew_after_ms / 2000.0)

    def held(self) -> int:
        return len(self._tickets)

    async def run(
        self, record: ExecutionRecord, work: Coroutine[Any, Any, T], on_lost: OnLost | None = None
    ) -> T:
        """Run ``work`` for the claimed ``record`` under lease protection.

        Raises :class:`LeaseLost` if the lease was lost while it ran; ``on_lost`` (the worker's
        ``cancel``) is called then, before ``work`` is cancelled.
        """
        claim = (record.tenant_id, record.execution_id, record.version)
        if claim in self._revoked:
            self._revoked.discard(claim)
            work.close()
            raise LeaseLost(f"lease revoked on execution {record.execution_id}")
        ticket = Ticket(record, self._engine.clock.now_ms() + self._renew_after_ms, on_lost)
        task = asyncio.ensure_future(work)
        ticket.task = task
        self._tickets.add(ticket)
        try:
            return await task
        except asyncio.CancelledError:
            if ticket.lost:
                raise LeaseLost(f"lease lost on execution {record.execution_id}") from None
            raise
        finally:
            self._tickets.discard(ticket)

    async def revoke(self, tenant_id: str, execution_id: str, version: int | None) -> bool:
        """Cancel every transition this process runs for the execution, as if its lease were
        lost (an operator's cancel); whether one was running. Their results are thrown away.
        With ``version`` (the claim this process holds), a transition of that claim that has
        not started yet never starts."""
        if version is not None:
            if len(self._revoked) > 1000:  # claims whose run ended before the revoke: forget
                self._revoked.clear()
            self._revoked.add((tenant_id, execution_id, version))
        tickets = [
            t
            for t in self._tickets
            if t.tenant_id == tenant_id and t.execution_id == execution_id and not t.lost
        ]
        for ticket in tickets:
            self._revoked.discard((tenant_id, execution_id, ticket.version))
            await self._cancel(ticket)
        return bool(tickets)

    async def _cancel(self, ticket: Ticket) -> None:
        ticket.lost = True
        if ticket.on_lost is not None:
            try:
                await ticket.on_lost(ticket.tenant_id, ticket.execution_id)
            except Exception:  # the lease is lost either way: cancel our side regardless
                LOG.exception("cancelling the worker's transition failed")
        if ticket.task is not None:
            ticket.task.cancel()

    async def tick(self) -> int:
        """Renew every lease that is due for renewal; returns how many were renewed or lost."""
        engine = self._engine
        now = engine.clock.now_ms()
        done = 0
        for ticket in [t for t in self._tickets if t.renew_at_ms <= now]:
            renewed = await engine.stores.executions.renew_lease(
                ticket.tenant_id,
                ticket.execution_id,
                engine.owner,
                ticket.version,
                now,
                engine.settings.execution.lease_ms,
            )
            cp.crash_point(cp.LEASE_RENEW)  # renewed (or lost) in the store, not noted here
            done += 1
            if renewed is not None:
                ticket.renew_at_ms = now + self._renew_after_ms
                engine.counters["lease_renewals"] += 1
                continue
            engine.counters["leases_lost"] += 1
            LOG.warning(
                "lease lost on execution %s/%s; cancelling its transition",
                ticket.tenant_id,
                ticket.execution_id,
            )
            await self._cancel(ticket)
        return done
