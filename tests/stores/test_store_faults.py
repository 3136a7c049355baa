"""SQLite store faults (issue 8, break 5): one retryable error, a whole failed batch, recovery.

The faults are SQLite's own: ``PRAGMA max_page_count`` makes the database "full" (SQLITE_FULL,
which rolls the whole transaction back, as a full disk does) and ``PRAGMA query_only`` makes it
refuse writes (SQLITE_READONLY, what a read-only file or directory answers), both set on the
store's live connection. Startup refuses a corrupted database and a path it cannot create.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import threading
from pathlib import Path
from typing import Any

import pytest
from msgspec.structs import replace

from tpf.core.clock import FakeClock
from tpf.core.errors import STORE_UNAVAILABLE_MESSAGE, Conflict, StoreUnavailable, StoreUnusable
from tpf.stores.health import LOG_EVERY_MS, StoreHealth
from tpf.stores.sqlite import SqliteAwaitStore, SqliteDatabase, SqliteExecutionStore

from .test_await_store_contract import make as make_interaction
from .test_execution_store_contract import T0
from .test_execution_store_contract import make as make_execution


async def _pragma(db: SqliteDatabase, statement: str) -> None:
    """Run a PRAGMA on the store's own connection (the thread every op runs on)."""
    await db.run(lambda conn: conn.execute(statement).fetchall(), atomic=True)


async def writable_again(db: SqliteDatabase, conn: sqlite3.Connection) -> None:
    """Lift ``PRAGMA query_only`` on the store's connection ``conn``: from outside its thread,
    since with it on every batch fails to begin (SQLite serializes use of one connection)."""
    await asyncio.to_thread(lambda: conn.execute("PRAGMA query_only = 0").fetchall())


async def _fill(db: SqliteDatabase) -> None:
    """No new page may be allocated from now on: the next growth is SQLITE_FULL."""

    def op(conn: sqlite3.Connection) -> None:
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
        conn.execute(f"PRAGMA max_page_count = {pages}").fetchall()

    await db.run(op, atomic=True)


async def _in_one_batch(db: SqliteDatabase, *calls: Any) -> list[Any]:
    """Await ``calls`` (store coroutines) queued behind a held thread, so they form one batch."""
    gate, started = threading.Event(), threading.Event()

    def blocker(conn: sqlite3.Connection) -> None:
        started.set()
        gate.wait()

    blocked = asyncio.ensure_future(db.run(blocker))
    await asyncio.to_thread(started.wait)

    async def release() -> None:
        gate.set()

    results = await asyncio.gather(*calls, release(), return_exceptions=True)
    await blocked
    return results[:-1]


async def test_a_fault_that_rolls_the_transaction_back_fails_the_whole_batch(
    sqlite_db: SqliteDatabase,
) -> None:
    await sqlite_db.run(lambda conn: conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v)"))
    await sqlite_db.run(lambda conn: conn.execute("INSERT INTO t VALUES (0, 'small')"))
    await _fill(sqlite_db)

    def insert(row_id: int) -> Any:
        return sqlite_db.run(lambda conn: conn.execute("INSERT INTO t VALUES (?, 'v')", (row_id,)))

    def grow(conn: sqlite3.Connection) -> None:  # SQLITE_FULL, and SQLite rolls back it all
        conn.execute("UPDATE t SET v = ? WHERE id = 0", (b"x" * 100_000,))

    results = await _in_one_batch(sqlite_db, insert(1), sqlite_db.run(grow, atomic=True), insert(2))
    # Every caller of the batch fails alike: nothing of it is durable. (The op after the fault
    # used to run outside any transaction and commit, while its caller was told it failed.)
    for result in results:
        assert isinstance(result, StoreUnavailable), result
        assert result.message == STORE_UNAVAILABLE_MESSAGE
        assert result.detail == "SQLITE_FULL: database or disk is full"
    rows = await sqlite_db.run(lambda conn: conn.execute("SELECT id FROM t").fetchall())
    assert rows == [(0,)]
    assert sqlite_db.health.failing
    await insert(3)  # the next batch is a fresh transaction, and it commits
    assert not sqlite_db.health.failing


async def test_a_full_database_answers_store_unavailable_until_space_is_freed(
    sqlite_db: SqliteDatabase,
) -> None:
    store = SqliteExecutionStore(sqlite_db)
    await _fill(sqlite_db)
    big = replace(make_execution("big", "k-big"), input_payload={"blob": "x" * 200_000})
    with pytest.raises(StoreUnavailable) as refused:
        await store.create_or_get(big, T0)
    assert str(sqlite_db.path) not in str(refused.value) and "full" in refused.value.detail
    assert sqlite_db.health.failing
    assert await store.get("t1", "big", T0) is None

    await _pragma(sqlite_db, "PRAGMA max_page_count = 1073741823")  # space freed
    assert (await store.create_or_get(big, T0))[1] is False
    assert not sqlite_db.health.failing  # a committed write ends the outage
    assert await store.count_by_status() == {"QUEUED": 1}


async def test_a_read_only_database_answers_store_unavailable_until_writable(
    sqlite_db: SqliteDatabase,
) -> None:
    store = SqliteExecutionStore(sqlite_db)
    await store.create_or_get(make_execution(), T0)
    conn = await sqlite_db.run(lambda conn: conn)
    await _pragma(sqlite_db, "PRAGMA query_only = 1")
    with pytest.raises(StoreUnavailable) as refused:
        await store.create_or_get(make_execution("e2", "k2"), T0)
    assert "readonly" in refused.value.detail
    assert sqlite_db.health.failing
    with pytest.raises(StoreUnavailable):
        await sqlite_db.probe(write=True)  # readiness' probe write fails while it lasts

    await writable_again(sqlite_db, conn)
    assert sqlite_db.health.failing  # nothing has written yet
    await sqlite_db.probe(write=True)
    assert not sqlite_db.health.failing
    assert (await store.create_or_get(make_execution("e2", "k2"), T0))[1] is False


async def test_operation_errors_are_not_store_faults(sqlite_db: SqliteDatabase) -> None:
    awaits = SqliteAwaitStore(sqlite_db)
    await awaits.create_or_get(make_interaction("i1", correlation_id="c"))
    with pytest.raises(Conflict):  # a constraint of the data, not a failing store
        await awaits.create_or_get(make_interaction("i2", correlation_id="c"))
    with pytest.raises(sqlite3.OperationalError):  # our SQL's bug stays a bug (a 500)
        await sqlite_db.run(lambda conn: conn.execute("SELECT nope FROM nowhere"))
    assert not sqlite_db.health.failing


async def test_an_outage_logs_one_line_and_its_end_one(
    sqlite_db: SqliteDatabase, caplog: pytest.LogCaptureFixture
) -> None:
    store = SqliteExecutionStore(sqlite_db)
    conn = await sqlite_db.run(lambda conn: conn)
    await _pragma(sqlite_db, "PRAGMA query_only = 1")
    with caplog.at_level(logging.WARNING, logger="tpf.stores"):
        results = await asyncio.gather(
            *(store.create_or_get(make_execution(f"e{i}", f"k{i}"), T0) for i in range(20)),
            return_exceptions=True,
        )
        assert all(isinstance(r, StoreUnavailable) for r in results)
        await writable_again(sqlite_db, conn)
        await store.create_or_get(make_execution(), T0)
    lines = [r.getMessage() for r in caplog.records if r.name == "tpf.stores"]
    assert len(lines) == 2, lines  # the fault (20 callers), then the recovery
    assert "SQLITE_READONLY" in lines[0] and str(sqlite_db.path) in lines[0]
    assert "works again" in lines[1]


def test_faults_go_on_logging_one_line_per_interval(caplog: pytest.LogCaptureFixture) -> None:
    clock = FakeClock()

    async def probe(failing: bool) -> None:
        return None

    health = StoreHealth("state store (test)", probe, clock=clock)
    with caplog.at_level(logging.WARNING, logger="tpf.stores"):
        for _ in range(50):
            health.fault("disk I/O error")
        clock.advance(LOG_EVERY_MS)
        health.fault("disk I/O error")
        health.succeeded()
        health.succeeded()
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 3, lines
    assert "49 more faults" in lines[1]
    assert "works again" in lines[2]
    assert health.faults == 51


# ------------------------------------------------------------------------------ startup


async def database_with_executions(path: Path, count: int) -> int:
    """A database holding ``count`` executions; returns the root page of ``executions``."""
    db = await SqliteDatabase.open(str(path))
    store = SqliteExecutionStore(db)
    for i in range(count):
        await store.create_or_get(make_execution(f"e{i}", f"k{i}"), T0)
    root: int = await db.run(
        lambda conn: conn.execute(
            "SELECT rootpage FROM sqlite_master WHERE name = 'executions'"
        ).fetchone()[0]
    )
    await db.close()  # checkpointed: the main file is the whole database
    return root


def corrupt_page(path: Path, page: int) -> None:
    page_size = 4096
    with path.open("r+b") as f:
        f.seek((page - 1) * page_size)
        f.write(b"\xa5" * 512)


async def test_startup_refuses_a_corrupted_database(tmp_path: Path) -> None:
    path = tmp_path / "tpf.sqlite3"
    corrupt_page(path, await database_with_executions(path, 3))
    with pytest.raises(StoreUnusable) as refused:
        await SqliteDatabase.open(str(path))
    message = refused.value.message
    assert str(path) in message and "malformed" in message and "tpf state" in message


async def test_startup_refuses_a_database_that_fails_its_quick_check(tmp_path: Path) -> None:
    path = tmp_path / "tpf.sqlite3"
    await database_with_executions(path, 3)
    with path.open("r+b") as f:  # the header's freelist page count (offset 36) now lies
        f.seek(36)
        f.write((7).to_bytes(4, "big"))
    with pytest.raises(StoreUnusable) as refused:
        await SqliteDatabase.open(str(path))
    message = refused.value.message
    assert message.startswith(f"the SQLite database {path} fails PRAGMA quick_check (")
    assert "freelist" in message and message.endswith(
        "restore a backup (see tpf state check and tpf state backup)"
    )


async def test_startup_refuses_a_file_that_is_not_a_database(tmp_path: Path) -> None:
    path = tmp_path / "tpf.sqlite3"
    path.write_bytes(b"not a database " * 1000)
    with pytest.raises(StoreUnusable) as refused:
        await SqliteDatabase.open(str(path))
    assert f"{path} cannot be used: file is not a database" in refused.value.message


async def test_startup_refuses_a_database_whose_directory_is_a_file(tmp_path: Path) -> None:
    (tmp_path / "state").write_text("a file where the directory should be")
    path = tmp_path / "state" / "tpf.sqlite3"
    with pytest.raises(StoreUnusable) as refused:
        await SqliteDatabase.open(str(path))
    assert str(path) in refused.value.message and "directory" in refused.value.message


class ReadOnlyDatabase(SqliteDatabase):
    """A database whose connection refuses every write, as a read-only file would (as root,
    which the suite runs as, a chmod refuses nothing)."""

    def _connect(self) -> sqlite3.Connection:
        conn = super()._connect()
        conn.execute("PRAGMA query_only = 1")
        return conn


async def test_startup_refuses_a_database_it_cannot_write(tmp_path: Path) -> None:
    path = tmp_path / "tpf.sqlite3"
    await database_with_executions(path, 1)
    with pytest.raises(StoreUnusable) as refused:
        await ReadOnlyDatabase.open(str(path))
    assert refused.value.message == (
        f"the SQLite database {path} cannot be used: attempt to write a readonly database; "
        "make the file and its directory writable"
    )


# ------------------------------------------------------------------------------ counts


async def test_status_counts_are_seeded_once_for_a_database_from_before_them(
    tmp_path: Path,
) -> None:
    path = tmp_path / "tpf.sqlite3"
    await database_with_executions(path, 5)
    with sqlite3.connect(path) as conn:  # as an older coordinator left it: no counts
        conn.execute("DROP TABLE execution_status_counts")
        for trigger in ("insert", "delete", "status"):
            conn.execute(f"DROP TRIGGER executions_count_{trigger}")
        conn.execute("UPDATE executions SET status = 'SUCCEEDED' WHERE execution_id = 'e0'")
    conn.close()
    db = await SqliteDatabase.open(str(path))
    try:
        store = SqliteExecutionStore(db)
        assert await store.count_by_status() == {"QUEUED": 4, "SUCCEEDED": 1}
    finally:
        await db.close()
    db = await SqliteDatabase.open(str(path))  # not counted twice
    try:
        assert await SqliteExecutionStore(db).count_by_status() == {"QUEUED": 4, "SUCCEEDED": 1}
    finally:
        await db.close()
