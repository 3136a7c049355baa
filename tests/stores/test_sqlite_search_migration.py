"""A database file from before the operator's search (issue 12) opens, gains the filter columns
filled from each row's JSON, and answers search, counts and per-execution queries; the search
and pending queries are index range reads that never sort."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import msgspec
from msgspec.structs import replace

from tests.stores.test_search_contract import make_interaction, rec
from tpf.core.records import ExecutionStatus
from tpf.core.search import ExecutionQuery
from tpf.stores.sqlite import SqliteAwaitStore, SqliteDatabase, SqliteExecutionStore
from tpf.stores.sqlite.search import index_for

_OLD_EXECUTIONS = """CREATE TABLE executions (
    tenant_id TEXT NOT NULL, execution_id TEXT NOT NULL, execution_key TEXT NOT NULL,
    version INTEGER NOT NULL, status TEXT NOT NULL, next_due_epoch_ms INTEGER NOT NULL,
    ttl_epoch_s INTEGER NOT NULL, dead_letter_key TEXT, data BLOB NOT NULL,
    PRIMARY KEY (tenant_id, execution_id))"""
_OLD_INTERACTIONS = """CREATE TABLE interactions (
    tenant_id TEXT NOT NULL, interaction_id TEXT NOT NULL, correlation_id TEXT NOT NULL,
    version INTEGER NOT NULL, status TEXT NOT NULL, pending INTEGER NOT NULL,
    deadline_epoch_ms INTEGER NOT NULL, assignee TEXT, grp TEXT, step_id TEXT NOT NULL,
    applied INTEGER NOT NULL, data BLOB NOT NULL,
    dispatch_state TEXT NOT NULL DEFAULT 'DISPATCHED',
    PRIMARY KEY (tenant_id, interaction_id))"""


def _old_database(path: Path) -> None:
    conn = sqlite3.connect(path)
    conn.execute(_OLD_EXECUTIONS)
    conn.execute(_OLD_INTERACTIONS)
    for r in (
        rec(1, pipeline_id="pay", status=ExecutionStatus.FAILED, error_code="BOOM"),
        rec(2, pipeline_id="pay", current_step_id="charge"),
        rec(3, pipeline_id="ship"),
    ):
        conn.execute(
            "INSERT INTO executions VALUES (?, ?, ?, ?, ?, ?, ?, NULL, ?)",
            (
                r.tenant_id,
                r.execution_id,
                r.execution_key,
                r.version,
                r.status.value,
                r.next_due_epoch_ms,
                r.ttl_epoch_s,
                msgspec.json.encode(r),
            ),
        )
    i = make_interaction("old", execution_id="e002", created_at_epoch_ms=5)
    conn.execute(
        "INSERT INTO interactions VALUES (?, ?, ?, 0, 'WAITING', 1, ?, NULL, NULL, ?, 0, ?, ?)",
        (
            i.tenant_id,
            i.interaction_id,
            i.correlation_id,
            i.deadline_epoch_ms,
            i.step_id,
            msgspec.json.encode(i),
            "DISPATCHED",
        ),
    )
    conn.commit()
    conn.close()


async def test_an_old_file_gains_searchable_columns(tmp_path: Path) -> None:
    path = tmp_path / "tpf.sqlite3"
    _old_database(path)
    db = await SqliteDatabase.open(str(path))
    try:
        store, awaits = SqliteExecutionStore(db), SqliteAwaitStore(db)
        now = rec(0).updated_at_epoch_ms

        async def ids(**filters: object) -> list[str]:
            page = await store.search(ExecutionQuery(tenant_id="t1", **filters), 10, None, now)  # type: ignore[arg-type]
            return [r.execution_id for r in page.items]

        assert await ids() == ["e003", "e002", "e001"]
        assert await ids(pipeline_id="pay") == ["e002", "e001"]
        assert await ids(error_code="BOOM") == ["e001"]
        assert await ids(step_id="charge") == ["e002"]
        assert await ids(updated_after_ms=now + 2) == ["e003", "e002"]
        assert await store.count_by_status() == {"QUEUED": 2, "FAILED": 1}
        assert [i.interaction_id for i in await awaits.list_for_execution("t1", "e002")] == ["old"]
        page = await awaits.page_pending("t1", execution_id="e002")
        assert [i.interaction_id for i in page.items] == ["old"]

        # A write keeps the columns current.
        stored = await store.get("t1", "e003", now)
        assert stored is not None
        moved = replace(stored, status=ExecutionStatus.DLQ, version=1, updated_at_epoch_ms=now)
        assert await store.compare_and_set(moved, 0) == moved
        assert await ids(status=ExecutionStatus.DLQ) == ["e003"]
        assert await ids() == ["e002", "e001", "e003"]
    finally:
        await db.close()


async def test_every_search_shape_is_an_index_range_read_without_a_sort(tmp_path: Path) -> None:
    db = await SqliteDatabase.open(str(tmp_path / "tpf.sqlite3"))
    shapes = [
        {},
        {"status": ExecutionStatus.FAILED},
        {"pipeline_id": "p"},
        {"pipeline_id": "p", "status": ExecutionStatus.FAILED},
        {"error_code": "X"},
        {"release_version": "r"},
        {"step_id": "s"},
        {"pipeline_id": "p", "updated_after_ms": 1, "updated_before_ms": 9},
    ]
    try:
        for shape in shapes:
            query = ExecutionQuery(tenant_id="t", **shape)  # type: ignore[arg-type]
            index = index_for(query)
            sql = (
                f"EXPLAIN QUERY PLAN SELECT data FROM executions INDEXED BY {index} "
                "WHERE tenant_id = ? AND (updated_at_epoch_ms, execution_id) < (?, ?) "
                + "".join(f"AND {c} = ? " for c in _columns(shape))
                + "ORDER BY updated_at_epoch_ms DESC, execution_id DESC LIMIT 51"
            )
            params = ("t", 5, "x", *("v" for _ in _columns(shape)))
            plan = str(await db.run(lambda conn, s=sql, p=params: conn.execute(s, p).fetchall()))
            assert f"USING INDEX {index}" in plan and "TEMP B-TREE" not in plan, (shape, plan)
    finally:
        await db.close()


def _columns(shape: dict[str, object]) -> list[str]:
    names = {"status": "status", "pipeline_id": "pipeline_id", "error_code": "error_code"}
    names |= {"release_version": "release_version", "step_id": "current_step_id"}
    return [names[k] for k in shape if k in names]
