"""The query side of ``DynamoAwaitStore``: pending interactions by filter, paged, and an
execution's interactions. Every one is a ``Query`` of an index, never a Scan.

Pending queries walk the original's sparse pending GSIs (most selective first: assignee, group,
step, tenant), whose sort key ``query_pending_deadline_sort`` is ``deadline#id``: a page after a
:class:`~tpf.core.search.PendingKey` cursor starts strictly above the cursor's sort key, so it
costs one range read however deep it is. An execution filter uses our
``await-interaction-by-execution`` index instead (partition: tenant + execution, sort:
``created_at#id``, every status): an execution has few interactions (an itemized await's live
window bounds them), so its partition is read whole, the pending ones kept and ordered by
deadline, and the cursor applied there.
"""

from __future__ import annotations

from collections.abc import Callable

from tpf.core.records import AwaitInteraction
from tpf.core.search import InteractionPage, PendingKey, decode_cursor, encode_cursor, pending_key
from tpf.stores.dynamo import keys
from tpf.stores.dynamo.client import Dynamo
from tpf.stores.dynamo.codec import Item, S, get_s, interaction_from_json

_PAGE_MAX = 1000


def _decode(item: Item) -> AwaitInteraction:
    return interaction_from_json(get_s(item, "record_json"))


class InteractionQueries:
    """Index queries over ``tpf_await_interaction``; the subclass sets the attributes."""

    _db: Dynamo
    _table: str
    _pending_indexes: dict[str, tuple[str, str]]
    _execution_index: str

    async def query_pending(
        self,
        tenant_id: str,
        *,
        assignee: str | None = None,
        group: str | None = None,
        step_id: str | None = None,
        limit: int = 100,
    ) -> list[AwaitInteraction]:
        page = await self.page_pending(
            tenant_id, assignee=assignee, group=group, step_id=step_id, limit=limit
        )
        return page.items

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
        if limit <= 0:
            return InteractionPage([])

        def wanted(i: AwaitInteraction) -> bool:
            return (
                i.pending
                and i.tenant_id == tenant_id
                and (assignee is None or i.assignee == assignee)
                and (group is None or i.group == group)
                and (step_id is None or i.step_id == step_id)
                and (execution_id is None or i.execution_id == execution_id)
            )

        if execution_id is not None:
            found = await self._execution_pending(tenant_id, execution_id, after, wanted)
        else:
            found = await self._walk_pending(
                tenant_id, assignee, group, step_id, after, limit + 1, wanted
            )
        items = found[:limit]
        more = len(found) > limit
        return InteractionPage(items, encode_cursor(pending_key(items[-1])) if more else None)

    async def _execution_pending(
        self,
        tenant_id: str,
        execution_id: str,
        after: PendingKey | None,
        wanted: Callable[[AwaitInteraction], bool],
    ) -> list[AwaitInteraction]:
        every = await self._db.query_all(
            self._table,
            "query_execution_key = :v",
            {":v": S(keys.execution_partition(tenant_id, execution_id))},
            index=self._execution_index,
        )
        found = [i for i in map(_decode, every) if wanted(i)]
        found.sort(key=lambda i: (i.deadline_epoch_ms, i.interaction_id))
        if after is not None:
            cut = (after.deadline_epoch_ms, after.interaction_id)
            found = [i for i in found if (i.deadline_epoch_ms, i.interaction_id) > cut]
        return found

    async def _walk_pending(
        self,
        tenant_id: str,
        assignee: str | None,
        group: str | None,
        step_id: str | None,
        after: PendingKey | None,
        want: int,
        wanted: Callable[[AwaitInteraction], bool],
    ) -> list[AwaitInteraction]:
        # The most selective index first (assignee > group > step > tenant), as the original;
        # the other filters apply in memory.
        if assignee is not None:
            kind, value = "assignee", keys.scoped(tenant_id, assignee)
        elif group is not None:
            kind, value = "group", keys.scoped(tenant_id, group)
        elif step_id is not None:
            kind, value = "step", keys.scoped(tenant_id, step_id)
        else:
            kind, value = "tenant", tenant_id
        index, attribute = self._pending_indexes[kind]
        condition = f"{attribute} = :v"
        values: Item = {":v": S(value)}
        if after is not None:
            condition += " AND query_pending_deadline_sort > :after"
            values[":after"] = S(keys.pending_sort(after.deadline_epoch_ms, after.interaction_id))
        page_size = min(max(3 * want, want), _PAGE_MAX)
        found: list[AwaitInteraction] = []
        start: Item | None = None
        while len(found) < want:
            items, start = await self._db.query(
                self._table, condition, values, index=index, limit=page_size, start=start
            )
            found += [i for i in map(_decode, items) if wanted(i)]
            if start is None:
                break
        return found[:want]

    async def list_for_execution(
        self, tenant_id: str, execution_id: str, limit: int = 200
    ) -> list[AwaitInteraction]:
        if limit <= 0:
            return []
        found: list[AwaitInteraction] = []
        start: Item | None = None
        while len(found) < limit:
            items, start = await self._db.query(
                self._table,
                "query_execution_key = :v",
                {":v": S(keys.execution_partition(tenant_id, execution_id))},
                index=self._execution_index,
                limit=min(limit, _PAGE_MAX),
                start=start,
            )
            found += map(_decode, items)
            if start is None:
                break
        return found[:limit]
