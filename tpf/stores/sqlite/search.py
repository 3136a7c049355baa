"""Execution search on SQLite: one keyset range read of the index that fits the filters.

Every search index (:data:`tpf.stores.sqlite.schema.SEARCH_INDEX_COLUMNS`) is
``(tenant_id, <filters>, updated_at_epoch_ms, execution_id)``, so with the filters it leads with
fixed, its rows from the cursor down are the page in order: SQLite walks the index backwards,
stops after ``limit + 1`` matches and never sorts. The index is named (``INDEXED BY``) rather
than left to the planner, which without ``ANALYZE`` statistics may prefer another one and sort.
Filters the chosen index does not lead with are checked on the rows it reads.
"""

from __future__ import annotations

import sqlite3
from typing import Any

import msgspec

from tpf.core.records import ExecutionRecord
from tpf.core.search import ExecutionPage, ExecutionQuery, SearchKey, encode_cursor, search_key

_decode = msgspec.json.Decoder(ExecutionRecord).decode
_TERMINAL_SQL = "('SUCCEEDED', 'FAILED', 'DLQ')"  # mirrors records.TERMINAL_STATUSES


def index_for(query: ExecutionQuery) -> str:
    """The index whose leading columns cover the most selective filters given."""
    if query.pipeline_id is not None and query.status is not None:
        return "executions_by_pipeline_status"
    if query.error_code is not None:
        return "executions_by_error"  # only failed executions carry one: the smallest
    if query.step_id is not None:
        return "executions_by_step"
    if query.release_version is not None:
        return "executions_by_release"
    if query.status is not None:
        return "executions_by_status"
    if query.pipeline_id is not None:
        return "executions_by_pipeline"
    return "executions_search"


def search_page(
    conn: sqlite3.Connection,
    query: ExecutionQuery,
    limit: int,
    after: SearchKey | None,
    now_ms: int,
) -> ExecutionPage:
    clauses = ["tenant_id = ?"]
    params: list[Any] = [query.tenant_id]
    for column, value in (
        ("pipeline_id", query.pipeline_id),
        ("status", None if query.status is None else query.status.value),
        ("release_version", query.release_version),
        ("current_step_id", query.step_id),
        ("error_code", query.error_code),
    ):
        if value is not None:
            clauses.append(f"{column} = ?")
            params.append(value)
    if query.updated_after_ms is not None:
        clauses.append("updated_at_epoch_ms >= ?")
        params.append(query.updated_after_ms)
    if query.updated_before_ms is not None:
        clauses.append("updated_at_epoch_ms <= ?")
        params.append(query.updated_before_ms)
    if after is not None:
        clauses.append("(updated_at_epoch_ms, execution_id) < (?, ?)")
        params.extend((after.updated_at_epoch_ms, after.execution_id))
    # Expired terminal executions read as absent (they are deleted lazily, by writers).
    clauses.append(
        f"NOT (status IN {_TERMINAL_SQL} AND ttl_epoch_s > 0 AND ttl_epoch_s * 1000 <= ?)"
    )
    params.append(now_ms)
    sql = (
        f"SELECT data FROM executions INDEXED BY {index_for(query)} "
        f"WHERE {' AND '.join(clauses)} "
        "ORDER BY updated_at_epoch_ms DESC, execution_id DESC LIMIT ?"
    )
    rows = conn.execute(sql, (*params, max(0, limit) + 1)).fetchall()
    items = [_decode(data) for (data,) in rows[:limit]]
    more = len(rows) > limit and bool(items)
    return ExecutionPage(items, encode_cursor(search_key(items[-1])) if more else None)
