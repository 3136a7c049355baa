"""``MemoryAwaitStore``: interactions in a dict, pending ones also in deadline-sorted lists.

One sorted list per filter value (tenant, assignee, group, step, and one for overdue) keeps
``query_pending`` and ``find_overdue`` proportional to what they return.
"""

from __future__ import annotations

import heapq
import itertools
from bisect import bisect_left, insort
from collections.abc import Hashable, Iterator

from tpf.core import interactions as inter
from tpf.core.errors import Conflict
from tpf.core.records import AwaitInteraction
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

    def scan(self, name: Hashable) -> Iterator[_Entry]:
        return iter(self._lists.get(name, ()))


def _pending_index_names(i: AwaitInteraction) -> list[Hashable]:
    names: list[Hashable] = ["overdue", ("tenant", i.tenant_id)]
    if i.assignee is not None:
        names.append(("assignee", i.tenant_id, i.assignee))
    if i.group is not None:
        names.append(("group", i.tenant_id, i.group))
    names.append(("step", i.tenant_id, i.step_id))
    return names


class MemoryAwaitStore:
    """Interactions in a dict; pending ones also in deadline-sorted lists per filter value."""

    def __init__(self) -> None:
        self._items: dict[_Key, AwaitInteraction] = {}
        self._by_correlation: dict[_Key, str] = {}
        self._pending = _DeadlineIndex()
        self._unapplied: dict[_Key, None] = {}
        self._undispatched: set[_Key] = set()  # the dispatch outbox

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
        # Walk the most selective index (assignee > group > step > tenant, as the original's
        # GSI choice) and filter the rest.
        name: Hashable
        if assignee is not None:
            name = ("assignee", tenant_id, assignee)
        elif group is not None:
            name = ("group", tenant_id, group)
        elif step_id is not None:
            name = ("step", tenant_id, step_id)
        else:
            name = ("tenant", tenant_id)
        found: list[AwaitInteraction] = []
        for _, tenant, interaction_id in self._pending.scan(name):
            if len(found) >= limit:
                break
            i = self._items[(tenant, interaction_id)]
            if (
                (group is None or i.group == group)
                and (step_id is None or i.step_id == step_id)
                and (assignee is None or i.assignee == assignee)
            ):
                found.append(i)
        return found

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
        self, tenant_id: str, interaction_id: str, now_ms: int
    ) -> AwaitInteraction | None:
        stored = self._items.get((tenant_id, interaction_id))
        if stored is None:
            return None
        dispatched = inter.mark_dispatched(stored, now_ms)
        if dispatched is None:
            return stored
        self._put(dispatched)
        return dispatched
