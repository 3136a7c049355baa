"""``MemoryItemStore``: each execution's items in an index-ordered list (lost with the process).

Items of one execution are appended in index order by the expansion, so a plain list per
execution answers pages by slicing; a status-filtered page scans forward from ``start`` (the
memory store serves tests and single-process demos, where that is cheap).
"""

from __future__ import annotations

from bisect import bisect_left
from collections import Counter
from collections.abc import Sequence

from tpf.core.items import ItemStatus, StreamItem

_Key = tuple[str, str]


class MemoryItemStore:
    def __init__(self) -> None:
        self._items: dict[_Key, list[StreamItem]] = {}

    async def insert_missing(self, items: Sequence[StreamItem]) -> int:
        inserted = 0
        for item in items:
            stored = self._items.setdefault((item.tenant_id, item.execution_id), [])
            i = bisect_left(stored, item.item_index, key=lambda s: s.item_index)
            if i < len(stored) and stored[i].item_index == item.item_index:
                continue
            stored.insert(i, item)
            inserted += 1
        return inserted

    async def get(self, tenant_id: str, execution_id: str, item_index: int) -> StreamItem | None:
        stored = self._items.get((tenant_id, execution_id), [])
        i = bisect_left(stored, item_index, key=lambda s: s.item_index)
        return stored[i] if i < len(stored) and stored[i].item_index == item_index else None

    async def page(
        self,
        tenant_id: str,
        execution_id: str,
        *,
        start: int,
        limit: int,
        status: ItemStatus | None = None,
    ) -> list[StreamItem]:
        stored = self._items.get((tenant_id, execution_id), [])
        i = bisect_left(stored, start, key=lambda s: s.item_index)
        out: list[StreamItem] = []
        while i < len(stored) and len(out) < limit:
            if status is None or stored[i].status is status:
                out.append(stored[i])
            i += 1
        return out

    async def compare_and_set(self, item: StreamItem, expected_version: int) -> StreamItem | None:
        stored = self._items.get((item.tenant_id, item.execution_id), [])
        i = bisect_left(stored, item.item_index, key=lambda s: s.item_index)
        if i >= len(stored) or stored[i].item_index != item.item_index:
            return None
        if stored[i].version != expected_version:
            return None
        stored[i] = item
        return item

    async def counts(self, tenant_id: str, execution_id: str) -> dict[ItemStatus, int]:
        return dict(Counter(s.status for s in self._items.get((tenant_id, execution_id), [])))

    async def delete_for_execution(self, tenant_id: str, execution_id: str) -> int:
        return len(self._items.pop((tenant_id, execution_id), []))
