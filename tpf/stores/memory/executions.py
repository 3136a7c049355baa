"""``MemoryExecutionStore``: executions in a dict plus the indexes the supervisors query.

A lazy-deletion heap serves ``find_due`` and an insertion-ordered dict ``find_dead_letters``, so
both touch only matching entries; per-status counts are kept with every write. ``search`` walks a
per-tenant list kept sorted by the search key, so a page starts at its cursor by bisection.
"""

from __future__ import annotations

import heapq
import itertools
from bisect import bisect_left, insort
from collections import Counter

from tpf.core.errors import Conflict
from tpf.core.records import CLAIMABLE_STATUSES, ExecutionRecord
from tpf.core.search import (
    ExecutionPage,
    ExecutionQuery,
    SearchKey,
    decode_cursor,
    encode_cursor,
    matches,
    search_key,
)
from tpf.stores.rules import claimed, is_expired, renewed, without_dead_letter

_Key = tuple[str, str]
_Sort = tuple[int, str]  # (updated_at, execution id): ascending here, served from the end


def _sort_key(record: ExecutionRecord) -> _Sort:
    return (record.updated_at_epoch_ms, record.execution_id)


def _discard(entries: list[_Sort], entry: _Sort) -> None:
    i = bisect_left(entries, entry)
    if i < len(entries) and entries[i] == entry:
        del entries[i]


class MemoryExecutionStore:
    """Executions in a dict, with a lazy-deletion heap for due records."""

    def __init__(self) -> None:
        self._records: dict[_Key, ExecutionRecord] = {}
        self._by_execution_key: dict[_Key, str] = {}
        # Heap of (next_due, tenant, id, stamp). An entry is current iff ``_stamps[key]`` still
        # equals its stamp; superseded entries are dropped when they reach the top.
        self._due: list[tuple[int, str, str, int]] = []
        self._stamps: dict[_Key, int] = {}
        self._next_stamp = itertools.count()
        self._dead_letters: dict[_Key, None] = {}  # insertion-ordered set
        self._counts: Counter[str] = Counter()
        self._by_update: dict[str, list[_Sort]] = {}  # tenant -> sorted search keys

    def _put(self, record: ExecutionRecord) -> None:
        key = (record.tenant_id, record.execution_id)
        old = self._records.get(key)
        if old is not None:
            self._counts[old.status.value] -= 1
        self._counts[record.status.value] += 1
        if old is None or _sort_key(old) != _sort_key(record):
            entries = self._by_update.setdefault(record.tenant_id, [])
            if old is not None:
                _discard(entries, _sort_key(old))
            insort(entries, _sort_key(record))
        self._records[key] = record
        self._by_execution_key[(record.tenant_id, record.execution_key)] = record.execution_id
        if record.status in CLAIMABLE_STATUSES:
            unchanged = (
                old is not None
                and old.status in CLAIMABLE_STATUSES
                and old.next_due_epoch_ms == record.next_due_epoch_ms
            )
            if not unchanged:
                stamp = next(self._next_stamp)
                self._stamps[key] = stamp
                heapq.heappush(self._due, (record.next_due_epoch_ms, *key, stamp))
                self._compact_due()
        else:
            self._stamps.pop(key, None)
        if record.dead_letters:
            self._dead_letters[key] = None
        else:
            self._dead_letters.pop(key, None)

    def _compact_due(self) -> None:
        # Superseded entries pile up under frequent rescheduling; rebuild when they dominate.
        if len(self._due) > 2 * len(self._stamps) + 1024:
            self._due = [e for e in self._due if self._stamps.get((e[1], e[2])) == e[3]]
            heapq.heapify(self._due)

    def _delete(self, key: _Key) -> None:
        record = self._records.pop(key)
        self._counts[record.status.value] -= 1
        _discard(self._by_update.get(record.tenant_id, []), _sort_key(record))
        if self._by_execution_key.get((record.tenant_id, record.execution_key)) == key[1]:
            del self._by_execution_key[(record.tenant_id, record.execution_key)]
        self._stamps.pop(key, None)
        self._dead_letters.pop(key, None)

    def _live(self, tenant_id: str, execution_id: str, now_ms: int) -> ExecutionRecord | None:
        key = (tenant_id, execution_id)
        record = self._records.get(key)
        if record is not None and is_expired(record, now_ms):
            self._delete(key)  # lazy expiry, as the original does on read
            return None
        return record

    async def create_or_get(
        self, record: ExecutionRecord, now_ms: int
    ) -> tuple[ExecutionRecord, bool]:
        existing_id = self._by_execution_key.get((record.tenant_id, record.execution_key))
        if existing_id is not None:
            existing = self._live(record.tenant_id, existing_id, now_ms)
            if existing is not None:
                return existing, True
        if self._live(record.tenant_id, record.execution_id, now_ms) is not None:
            raise Conflict(f"execution id {record.execution_id} already exists")
        self._put(record)
        return record, False

    async def get(self, tenant_id: str, execution_id: str, now_ms: int) -> ExecutionRecord | None:
        return self._live(tenant_id, execution_id, now_ms)

    async def compare_and_set(
        self, record: ExecutionRecord, expected_version: int
    ) -> ExecutionRecord | None:
        stored = self._records.get((record.tenant_id, record.execution_id))
        if stored is None or stored.version != expected_version:
            return None
        self._put(record)
        return record

    async def claim_lease(
        self, tenant_id: str, execution_id: str, owner: str, now_ms: int, lease_ms: int
    ) -> ExecutionRecord | None:
        record = claimed(self._records.get((tenant_id, execution_id)), owner, now_ms, lease_ms)
        if record is not None:
            self._put(record)
        return record

    async def renew_lease(
        self,
        tenant_id: str,
        execution_id: str,
        owner: str,
        version: int,
        now_ms: int,
        lease_ms: int,
    ) -> ExecutionRecord | None:
        stored = self._records.get((tenant_id, execution_id))
        record = renewed(stored, owner, version, now_ms, lease_ms)
        if record is not None:
            self._put(record)
        return record

    async def find_due(self, now_ms: int, limit: int) -> list[ExecutionRecord]:
        found: list[ExecutionRecord] = []
        keep: list[tuple[int, str, str, int]] = []
        while self._due and len(found) < limit and self._due[0][0] <= now_ms:
            entry = heapq.heappop(self._due)
            key = (entry[1], entry[2])
            if self._stamps.get(key) != entry[3]:
                continue  # superseded
            record = self._records[key]
            if is_expired(record, now_ms):
                self._delete(key)
                continue
            found.append(record)
            keep.append(entry)
        for entry in keep:
            heapq.heappush(self._due, entry)
        return found

    async def find_dead_letters(self, limit: int) -> list[ExecutionRecord]:
        keys = itertools.islice(self._dead_letters, max(0, limit))
        return [self._records[key] for key in keys]

    async def clear_dead_letter(
        self, tenant_id: str, execution_id: str, transition_key: str
    ) -> bool:
        record = self._records.get((tenant_id, execution_id))
        cleared = None if record is None else without_dead_letter(record, transition_key)
        if cleared is None:
            return False
        self._put(cleared)
        return True

    async def count_by_status(self) -> dict[str, int]:
        return {status: n for status, n in self._counts.items() if n > 0}

    async def search(
        self, query: ExecutionQuery, limit: int, cursor: str | None, now_ms: int
    ) -> ExecutionPage:
        after = decode_cursor(cursor, SearchKey)
        entries = self._by_update.get(query.tenant_id, [])
        # Newest first: start just below the cursor (or the window's upper bound) and walk down.
        end = len(entries)
        if query.updated_before_ms is not None:
            end = bisect_left(entries, (query.updated_before_ms + 1, ""))
        if after is not None:
            end = min(end, bisect_left(entries, (after.updated_at_epoch_ms, after.execution_id)))
        found: list[ExecutionRecord] = []
        expired: list[_Key] = []
        more = False
        for i in range(end - 1, -1, -1):
            updated_at, execution_id = entries[i]
            if query.updated_after_ms is not None and updated_at < query.updated_after_ms:
                break
            record = self._records[(query.tenant_id, execution_id)]
            if is_expired(record, now_ms):
                expired.append((query.tenant_id, execution_id))
                continue
            if not matches(query, record):
                continue
            if len(found) == limit:
                more = True
                break
            found.append(record)
        for key in expired:  # after the walk: deleting shifts the list being walked
            self._delete(key)
        next_cursor = encode_cursor(search_key(found[-1])) if more and found else None
        return ExecutionPage(found, next_cursor)
