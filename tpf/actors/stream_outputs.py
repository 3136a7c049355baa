"""An expanded execution's items in the store: written by its expansion, read by its aggregation.

:class:`ItemWriter` stores an expansion's items as code hosted here produces them, a page at a
time, so an expansion of 100,000 records never holds them all.

The outputs are read in index order as the aggregation needs them: a page at a time from the
item store for code hosted here (the local worker iterates them into the step), or as one list
in the command for a remote worker, bounded by
``pipeline.orchestrator.await-aggregate-max-input-items``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from tpf.actors.context import Engine
from tpf.core import crash_points as cp
from tpf.core.errors import TpfError
from tpf.core.items import ItemStatus, StreamItem
from tpf.core.records import ExecutionRecord

PAGE = 500


class ItemWriter:
    """Stores an expansion's pages of items (plain JSON) in order; ``count`` so far."""

    def __init__(self, engine: Engine, record: ExecutionRecord) -> None:
        self.engine = engine
        self.record = record
        self.count = 0

    async def __call__(self, page: list[Any]) -> None:
        record, now = self.record, self.engine.clock.now_ms()
        await self.engine.stores.items.insert_missing(
            [
                StreamItem(
                    tenant_id=record.tenant_id,
                    execution_id=record.execution_id,
                    item_index=self.count + offset,
                    payload=value,
                    updated_at_epoch_ms=now,
                )
                for offset, value in enumerate(page)
            ]
        )
        cp.crash_point(cp.ITEMS_WRITE)
        self.count += len(page)


async def item_pages(
    engine: Engine, record: ExecutionRecord, status: ItemStatus | None = None
) -> AsyncIterator[list[StreamItem]]:
    """``record``'s items (of ``status``, when given) in index order, a page at a time."""
    start = 0
    while True:
        page = await engine.stores.items.page(
            record.tenant_id, record.execution_id, start=start, limit=PAGE, status=status
        )
        if page:
            yield page
        if len(page) < PAGE:
            return
        start = page[-1].item_index + 1


async def output_pages(engine: Engine, record: ExecutionRecord) -> AsyncIterator[list[Any]]:
    """The items' outputs in index order, a page at a time (DONE items only)."""
    async for page in item_pages(engine, record, ItemStatus.DONE):
        yield [item.output_payload for item in page]


async def outputs_list(engine: Engine, record: ExecutionRecord) -> list[Any]:
    """Every item's output (for a remote aggregation or a materialized result), bounded."""
    bound = engine.settings.execution.aggregate_max_items
    total = record.items.total if record.items is not None else 0
    if total > bound:
        raise TpfError(
            f"execution {record.execution_id} has {total} items; at most {bound} are sent whole "
            "(pipeline.orchestrator.await-aggregate-max-input-items), or host the pipeline's "
            "code in the coordinator, which streams them",
            code="AGGREGATE_TOO_LARGE",
        )
    out: list[Any] = []
    async for page in output_pages(engine, record):
        out.extend(page)
    return out
