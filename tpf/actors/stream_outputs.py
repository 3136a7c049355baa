"""An expanded execution's item outputs, in index order, as its aggregation reads them.

A page at a time from the item store for code hosted here (the local worker iterates them into
the step), or as one list in the command for a remote worker, bounded by
``pipeline.orchestrator.await-aggregate-max-input-items``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from tpf.actors.context import Engine
from tpf.core.errors import TpfError
from tpf.core.items import ItemStatus
from tpf.core.records import ExecutionRecord

PAGE = 500


async def output_pages(engine: Engine, record: ExecutionRecord) -> AsyncIterator[list[Any]]:
    """The items' outputs in index order, a page at a time (DONE items only)."""
    start = 0
    while True:
        page = await engine.stores.items.page(
            record.tenant_id, record.execution_id, start=start, limit=PAGE
        )
        outputs = [item.output_payload for item in page if item.status is ItemStatus.DONE]
        if outputs:
            yield outputs
        if len(page) < PAGE:
            return
        start = page[-1].item_index + 1


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
