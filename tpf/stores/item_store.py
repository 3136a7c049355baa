"""The ``ItemStore`` Protocol: an expanded execution's items (issue 13, :mod:`tpf.core.items`).

Kept beside :mod:`tpf.stores.base` (which re-exports it) so each stays small; the contract suite
in ``tests/stores/test_item_store_contract.py`` runs every implementation through it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from tpf.core.items import ItemStatus, StreamItem


class ItemStore(Protocol):
    """An expanded execution's items (:mod:`tpf.core.items`), keyed by ``(tenant, execution,
    item_index)`` and always read in index order, a page at a time."""

    async def insert_missing(self, items: Sequence[StreamItem]) -> int:
        """Store each item whose key is absent and keep every one already stored (a re-run
        expansion never resets an item's progress). Returns how many were inserted."""
        ...

    async def get(
        self, tenant_id: str, execution_id: str, item_index: int
    ) -> StreamItem | None: ...

    async def page(
        self,
        tenant_id: str,
        execution_id: str,
        *,
        start: int,
        limit: int,
        status: ItemStatus | None = None,
    ) -> list[StreamItem]:
        """Items with ``item_index >= start`` (and ``status``, when given) by index, at most
        ``limit``."""
        ...

    async def compare_and_set(self, item: StreamItem, expected_version: int) -> StreamItem | None:
        """Replace the stored item with ``item`` iff its version is ``expected_version``
        (``item.version`` is written as given); ``None`` when it differs or is absent."""
        ...

    async def counts(self, tenant_id: str, execution_id: str) -> dict[ItemStatus, int]:
        """How many items of the execution are in each status (absent statuses omitted)."""
        ...

    async def delete_for_execution(self, tenant_id: str, execution_id: str) -> int:
        """Remove every item of the execution (its retention ended); returns how many."""
        ...
