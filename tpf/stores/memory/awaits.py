"""``MemoryAwaitStore``: interactions in a dict, pending ones also in deadline-sorted lists.

One sorted list per filter value (tenant, assignee, group, step, execution, and one for overdue)
keeps ``query_pending``, ``page_pending`` and ``find_overdue`` proportional to what they return;
every interaction's id is also listed under its execution for ``list_for_execution``.
"""

from __future__ import annotations

import heapq
import itertools
from bisect import bisect_left, bisect_right, insort
from collections.abc import Hashable, Iterator

from tpf.core import interactions as inter
from tpf.core.errors import Conflict
from tpf.core.records import AwaitInteraction
from tpf.core.search import InteractionPage, PendingKey, decode_cursor, encode_cursor, pending_key
from tpf.stores.rules import is_unapplied

_Key = tuple[str, str]

_Entry = tuple[int, str, str]  # (deadline, tenant, interaction id)


class _DeadlineIndex:
    """Named lists of entries kept sorted by deadline, for pending/overdue queries."""

    def __init__(self) -> None:
        self._lists: dict[Hashable, list[_Entry]] = {}

    def add(self, name: Hashable, entry: _Entry) -> None:
        insort(self._lists.setdefault(name, []), entry)

    def remove(self, name: Hashable, entry: _Entry) -> None:
        entries = self._lists.get(name)
        if entries is None:
            return
        i = bisect_left(entries, entry)
        if i < len(entries) and entries[i] == entry:
            del entries[i]
        if not entries:
            del self._lists[name]

    def scan(self, name: Hashable, after: _Entry | None = None) -> Iterator[_Entry]:
        """The entries of ``name`` in order, starting just past ``after`` when given."""
        entries = self._lists.get(name, [])
        start = 0 if after is None else bisect_right(entries, after)
        return itertools.islice(entries, start, None)


def _pending_index_names(i: AwaitInteraction) -> list[Hashable]:
    names: list[Hashable] = ["overdue", ("tenant", i.tenant_id)]
    if i.assignee is not None:
        names.append(("assignee", i.tenant_id, i.assignee))
    if i.group is not None:
        names.append(("group", i.tenant_id, i.group))
    names.append(("step", i.tenant_id, i.step_id))
    names.append(("execution", i.tenant_id, i.execution_id))
    return names


def _index_name(
    tenant_id: str,
    assignee: str | None,
    group: str | None,
    step_id: str | None,
    execution_id: str | None,
) -> Hashable:
    # The most selective index: execution > assignee > group > step > tenant (the original's
    # GSI choice, with the execution first: it has a handful of interactions at most).
    if execution_id is not None:
        return ("execution", tenant_id, execution_id)
    if assignee is not None:
        return ("assignee", tenant_id, assignee)
    if group is not None:
        return ("group", tenant_id, group)
    if step_id is not None:
        return ("step", tenant_id, step_id)
    return ("tenant", tenant_id)


class MemoryAwaitStore:
    """Interactions in a dict; pending ones also in deadline-sorted lists per filter value."""

    def __init__(self) -> None:
        self._items: dict[_Key, AwaitInteraction] = {}
        self._by_correlation: dict[_Key, str] = {}
        self._pending = _DeadlineIndex()
        self._unapplied: dict[_Key, None] = {}
        self._undispatched: set[_Key] = set()  # the dispatch outbox
        self._by_execution: dict[_Key, set[str]] = {}  # (tenant, execution) -> interaction ids

    def _put(self, new: AwaitInteraction) -> None:
        key = (new.tenant_id, new.interaction_id)
        old = self._items.get(key)
        if old is not None and old.pending:
            entry = (old.deadline_epoch_ms, old.tenant_id, old.interaction_id)
            for name in _pending_index_names(old):
                self._pending.remove(name, entry)
        if new.pending:
            entry = (new.deadline_epoch_ms, new.tenant_id, new.interaction_id)
            for name in _pending_index_names(new):
                self._pending.add(name, entry)
        if is_unapplied(new):
            self._unapplied[key] = None
        else:
            self._unapplied.pop(key, None)
        if new.undispatched:
            self._undispatched.add(key)
        else:
            self._undispatched.discard(key)
        self._items[key] = new
        self._by_execution.setdefault((new.tenant_id, new.execution_id), set()).add(
            new.interaction_id
        )
        self._by_correlation[(new.tenant_id, new.correlation_id)] = new.interaction_id

    async def create_or_get(self, interaction: AwaitInteraction) -> tuple[AwaitInteraction, bool]:
        existing = self._items.get((interaction.tenant_id, interaction.interaction_id))
        if existing is not None:
            return existing, False
        if (interaction.tenant_id, interaction.correlation_id) in self._by_correlation:
            raise Conflict(f"correlation id {interaction.correlation_id} is already in use")
        self._put(interaction)
        return interaction, True

    async def get(self, tenant_id: str, interaction_id: str) -> AwaitInteraction | None:
        return self._items.get((tenant_id, interaction_id))

    async def get_many(self, tenant_id: str, ids: list[str]) -> dict[str, AwaitInteraction]:
        found = ((i, self._items.get((tenant_id, i))) for i in ids)
        return {i: item for i, item in found if item is not None}

    async def get_by_correlation(
        self, tenant_id: str, correlation_id: str
    ) -> AwaitInteraction | None:
        interaction_id = self._by_correlation.get((tenant_id, correlation_id))
        return None if interaction_id is None else self._items.get((tenant_id, interaction_id))

    async def compare_and_set(
        self, interaction: AwaitInteraction, expected_version: int
    ) -> AwaitInteraction | None:
        stored = self._items.get((interaction.tenant_id, interaction.interaction_id))
        if stored is None or stored.version != expected_version:
            return None
        if stored.correlation_id != interaction.correlation_id:
            taken = self._by_correlation.get((interaction.tenant_id, interaction.correlation_id))
            if taken is not None:
                raise Conflict(f"correlation id {interaction.correlation_id} is already in use")
            del self._by_correlation[(stored.tenant_id, stored.correlation_id)]
        self._put(interaction)
        return interaction

    async def query_pending(
        self,
        tenant_id: str,
        *,
        assignee: str | None = None,
        group: str | None = None,
        step_id: str | None = None,
        limit: int = 100,
    ) -> list[AwaitInteraction]:
        found, _ = self._pending_from(tenant_id, assignee, group, step_id, None, limit, None)
        return found

    async def page_pending(
        self,
        tenant_id: str,
        *,
        assignee: str | None = None,
        group: str | None = None,
        step_id: str | None = None,
        execution_id: str | None = None,
        limit: int = 100,
        cursor: str | None = None,
    ) -> InteractionPage:
        after = decode_cursor(cursor, PendingKey)
        start = (
            None if after is None else (after.deadline_epoch_ms, tenant_id, after.interaction_id)
        )
        found, more = self._pending_from(
            tenant_id, assignee, group, step_id, execution_id, limit, start
        )
        next_cursor = encode_cursor(pending_key(found[-1])) if more and found else None
        return InteractionPage(found, next_cursor)

    def _pending_from(
        self,
        tenant_id: str,
        assignee: str | None,
        group: str | None,
        step_id: str | None,
        execution_id: str | None,
        limit: int,
        after: _Entry | None,
    ) -> tuple[list[AwaitInteraction], bool]:
        """Up to ``limit`` matches after ``after``, and whether another match follows."""
        name = _index_name(tenant_id, assignee, group, step_id, execution_id)
        found: list[AwaitInteraction] = []
        for _, tenant, interaction_id in self._pending.scan(name, after):
            i = self._items[(tenant, interaction_id)]
            if (
                (group is None or i.group == group)
                and (step_id is None or i.step_id == step_id)
                and (assignee is None or i.assignee == assignee)
                and (execution_id is None or i.execution_id == execution_id)
            ):
                if len(found) >= limit:
                    return found, True
                found.append(i)
        return found, False

    async def list_for_execution(
        self, tenant_id: str, execution_id: str, limit: int = 200
    ) -> list[AwaitInteraction]:
        ids = self._by_execution.get((tenant_id, execution_id), set())
        items = [self._items[(tenant_id, interaction_id)] for interaction_id in ids]
        items.sort(key=lambda i: (i.created_at_epoch_ms, i.interaction_id))
        return items[: max(0, limit)]

    async def find_overdue(self, now_ms: int, limit: int) -> list[AwaitInteraction]:
        found: list[AwaitInteraction] = []
        for deadline, tenant, interaction_id in self._pending.scan("overdue"):
            if deadline > now_ms or len(found) >= limit:
                break
            found.append(self._items[(tenant, interaction_id)])
        return found

    async def find_unapplied(self, limit: int) -> list[AwaitInteraction]:
        return [self._items[key] for key in itertools.islice(self._unapplied, max(0, limit))]

    async def find_undispatched(self, limit: int) -> list[AwaitInteraction]:
        keys = heapq.nsmallest(max(0, limit), self._undispatched)
        return [self._items[key] for key in keys]

    async def mark_dispatched(
        self, tenant_id: str, interaction_id: str, now_ms: int, sent: AwaitInteraction | None = None
    ) -> AwaitInteraction | None:
        stored = self._items.get((tenant_id, interaction_id))
        if stored is None:
            return None
        dispatched = inter.mark_dispatched(stored, now_ms)
        if dispatched is None:
            return stored
        self._put(dispatched)
        return dispatched
