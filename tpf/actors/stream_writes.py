"""A stream run's writes of its items and their interactions (:mod:`tpf.actors.streams`).

Every write is a compare-and-set on the record's version, so the first writer wins and a run
that lost a race reads what won. Where the store writes an interaction together with its item
(``StoreSet.await_commits``: DynamoDB, SQLite), the two writes of a dispatch (the interaction
created, the item ``AWAITING`` on it) and the two of a finish (the item ``DONE`` with its output,
the interaction marked applied) are one request each; any failed condition writes nothing, and the
general path below, one write after the other, runs and decides. Either way a crash leaves one
of the states the general path passes through, so the crash points are the same.
"""

from __future__ import annotations

from typing import Any

import msgspec

from tpf.actors.context import Engine
from tpf.core import crash_points as cp
from tpf.core import interactions as inter
from tpf.core.items import ItemStatus, StreamItem
from tpf.core.records import AwaitInteraction, ExecutionRecord
from tpf.core.streams import budget_scope

replace = msgspec.structs.replace


class ItemWrites:
    def __init__(self, engine: Engine, record: ExecutionRecord) -> None:
        self.engine = engine
        self.record = record

    def _next(self, item: StreamItem, **changes: Any) -> StreamItem:
        return replace(
            item,
            version=item.version + 1,
            updated_at_epoch_ms=self.engine.clock.now_ms(),
            **changes,
        )

    async def write(self, item: StreamItem, **changes: Any) -> StreamItem | None:
        """``item`` with ``changes``, compare-and-set; on a lost race the stored item when it
        is final already (someone else finished it), else another try on the stored one."""
        items = self.engine.stores.items
        current: StreamItem | None = item
        while current is not None:
            if current.status is ItemStatus.DONE and changes.get("status") is not ItemStatus.DONE:
                return current
            if current.status is ItemStatus.DONE:
                return None  # done by an earlier writer: counted once, by it
            written = await items.compare_and_set(self._next(current, **changes), current.version)
            if written is not None:
                cp.crash_point(cp.ITEM_WRITE)
                return written
            current = await items.get(item.tenant_id, item.execution_id, item.item_index)
        return None

    async def dispatch(self, item: StreamItem, interaction: AwaitInteraction) -> StreamItem | None:
        """Create ``interaction`` with ``item`` marked ``AWAITING`` on it in one write, where the
        store can; the item as stored, or ``None`` when nothing was written (the caller creates
        the interaction, then writes the item)."""
        joint = self.engine.stores.await_commits
        if joint is None:
            return None
        awaiting = self._next(
            item, status=ItemStatus.AWAITING, interaction_id=interaction.interaction_id
        )
        if not await joint.dispatch_item(awaiting, item.version, interaction):
            return None
        cp.crash_point(cp.ITEM_WRITE)  # the general path's state after the item's write
        return awaiting

    async def finish(
        self, item: StreamItem, interaction: AwaitInteraction, **changes: Any
    ) -> StreamItem | None:
        """Write ``item`` with ``changes`` (``DONE``, its output) and ``interaction`` marked
        applied in one write, where the store can; the item as stored, or ``None`` when nothing
        was written (the caller writes the item, then :meth:`release`)."""
        joint = self.engine.stores.await_commits
        if joint is None or interaction.applied or interaction.pending:
            return None
        done = self._next(item, **changes)
        applied = inter.mark_applied(interaction, self.engine.clock.now_ms())
        if not await joint.finish_item(done, item.version, applied, interaction.version):
            return None
        cp.crash_point(cp.ITEM_MARK_APPLIED)  # the general path's state after its last write
        await self.free_slot(interaction)
        return done

    async def release(self, interaction: AwaitInteraction) -> None:
        """Mark the item's answered ``interaction`` applied (re-read after a lost race, until
        someone has), then free its admission slot."""
        awaits, clock = self.engine.stores.awaits, self.engine.clock
        current: AwaitInteraction | None = interaction
        while current is not None and not current.applied and not current.pending:
            marked = inter.mark_applied(current, clock.now_ms())
            if await awaits.compare_and_set(marked, current.version) is not None:
                cp.crash_point(cp.ITEM_MARK_APPLIED)
                break
            current = await awaits.get(interaction.tenant_id, interaction.interaction_id)
        await self.free_slot(interaction)

    async def free_slot(self, interaction: AwaitInteraction) -> None:
        budget = self.engine.budget
        if budget is not None:
            await budget.release(
                budget_scope(self.record.pipeline_id, interaction), interaction.interaction_id
            )
