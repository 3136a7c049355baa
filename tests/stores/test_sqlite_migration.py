"""A database file written before dispatch states, held completions or stream items opens and
keeps working.

The file is built with the interactions table as earlier versions created it (no
``dispatch_state`` column) holding a row whose JSON has no ``dispatchState`` either.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import msgspec

from tests.stores.test_await_store_contract import T0, make
from tests.stores.test_execution_store_contract import make as make_execution
from tpf.core.items import StreamItem
from tpf.core.records import DispatchState, ExecutionStatus, HeldCompletion
from tpf.stores.sqlite import (
    SqliteAwaitStore,
    SqliteDatabase,
    SqliteExecutionStore,
    SqliteHeldCompletionStore,
    SqliteItemStore,
)

_OLD_INTERACTIONS = """CREATE TABLE interactions (
    tenant_id TEXT NOT NULL, interaction_id TEXT NOT NULL, correlation_id TEXT NOT NULL,
    version INTEGER NOT NULL, status TEXT NOT NULL, pending INTEGER NOT NULL,
    deadline_epoch_ms INTEGER NOT NULL, assignee TEXT, grp TEXT, step_id TEXT NOT NULL,
    applied INTEGER NOT NULL, data BLOB NOT NULL,
    PRIMARY KEY (tenant_id, interaction_id))"""


def _old_database(path: Path) -> None:
    old = make("old")
    data = msgspec.json.decode(msgspec.json.encode(old))
    del data["dispatchState"]  # what an earlier version wrote
    conn = sqlite3.connect(path)
    conn.execute(_OLD_INTERACTIONS)
    conn.execute(
        "INSERT INTO interactions VALUES (?, ?, ?, 0, 'WAITING', 1, ?, NULL, NULL, ?, 0, ?)",
        (
            old.tenant_id,
            old.interaction_id,
            old.correlation_id,
            old.deadline_epoch_ms,
            old.step_id,
            msgspec.json.encode(data),
        ),
    )
    conn.commit()
    conn.close()


def _columns(path: Path) -> set[str]:
    conn = sqlite3.connect(path)
    try:
        return {row[1] for row in conn.execute("PRAGMA table_info(interactions)")}
    finally:
        conn.close()


async def test_an_existing_file_gains_the_columns_and_keeps_its_rows(tmp_path: Path) -> None:
    path = tmp_path / "tpf.sqlite3"
    _old_database(path)
    assert "dispatch_state" not in _columns(path)

    db = await SqliteDatabase.open(str(path))
    awaits, held = SqliteAwaitStore(db), SqliteHeldCompletionStore(db)
    old = await awaits.get("t1", "old")
    assert old is not None and old.dispatch_state is DispatchState.DISPATCHED
    assert await awaits.find_undispatched(10) == []  # old rows were dispatched at creation
    assert [i.interaction_id for i in await awaits.query_pending("t1")] == ["old"]

    await awaits.create_or_get(make("new", dispatch_state=DispatchState.CREATED))
    assert [i.interaction_id for i in await awaits.find_undispatched(10)] == ["new"]
    hold = HeldCompletion(tenant_id="t1", handle_kind="interaction", handle="later")
    assert await held.hold(hold) is True
    await db.close()
    assert "dispatch_state" in _columns(path)

    again = await SqliteDatabase.open(str(path))  # a second open adds nothing and keeps all
    awaits, held = SqliteAwaitStore(again), SqliteHeldCompletionStore(again)
    assert [i.interaction_id for i in await awaits.find_undispatched(10)] == ["new"]
    marked = await awaits.mark_dispatched("t1", "new", T0)
    assert marked is not None and marked.dispatch_state is DispatchState.DISPATCHED
    assert await awaits.find_undispatched(10) == []
    assert await held.list(10) == [hold]
    await again.close()


async def test_the_outbox_query_uses_its_index(tmp_path: Path) -> None:
    db = await SqliteDatabase.open(str(tmp_path / "tpf.sqlite3"))
    plan = await db.run(
        lambda conn: conn.execute(
            "EXPLAIN QUERY PLAN SELECT data FROM interactions INDEXED BY "
            "interactions_undispatched WHERE pending = 1 AND dispatch_state = 'CREATED' "
            "ORDER BY tenant_id, interaction_id"
        ).fetchall()
    )
    await db.close()
    assert "interactions_undispatched" in str(plan)


async def test_a_file_from_before_stream_items_gains_their_table(tmp_path: Path) -> None:
    path = tmp_path / "tpf.sqlite3"
    db = await SqliteDatabase.open(str(path))
    ended = make_execution("e1", "k1", status=ExecutionStatus.SUCCEEDED, ttl_epoch_s=T0 // 1000)
    await SqliteExecutionStore(db).create_or_get(ended, T0 - 1_000)
    await db.close()
    conn = sqlite3.connect(path)  # what a file of the version before issue 13 holds
    conn.execute("DROP TRIGGER executions_delete_items")
    conn.execute("DROP TABLE stream_items")
    conn.commit()
    conn.close()

    again = await SqliteDatabase.open(str(path))
    items = SqliteItemStore(again)
    stored = [StreamItem(tenant_id="t1", execution_id="e1", item_index=n) for n in range(3)]
    assert await items.insert_missing(stored) == 3
    assert await items.page("t1", "e1", start=1, limit=10) == stored[1:]
    # The trigger came back with the table: the expired execution takes its items along.
    assert await SqliteExecutionStore(again).get("t1", "e1", T0) is None
    assert await items.counts("t1", "e1") == {}
    await again.close()
