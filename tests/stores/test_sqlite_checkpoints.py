"""The SQLite WAL reaches the main file (issue 8, break 7): a copy of ``tpf.sqlite3`` alone, as an
operator's ``cp`` would take, holds the executions once writes pause, after every N commits,
and after a clean close even while another connection has the database open."""

from __future__ import annotations

import asyncio
import os
import shutil
import sqlite3
import uuid
from pathlib import Path

from tpf.stores.sqlite import SqliteDatabase, SqliteExecutionStore

from .test_execution_store_contract import T0
from .test_execution_store_contract import make as make_execution


def main_file_executions(db_path: Path, scratch: Path) -> set[str]:
    """The execution ids that a copy of the main database file alone (no ``-wal``) holds."""
    copy = scratch / f"copy-{uuid.uuid4().hex}.sqlite3"
    shutil.copyfile(db_path, copy)
    conn = sqlite3.connect(copy)
    try:
        rows = conn.execute("SELECT execution_id FROM executions").fetchall()
    except sqlite3.OperationalError:  # not even the schema has reached the main file
        return set()
    finally:
        conn.close()
    return {row[0] for row in rows}


def wal_bytes(db_path: Path) -> int:
    return os.path.getsize(f"{db_path}-wal")


async def write(db: SqliteDatabase, count: int) -> set[str]:
    executions = SqliteExecutionStore(db)
    ids = {f"e{i}" for i in range(count)}
    for execution_id in sorted(ids):  # one commit each, as a quiet coordinator makes them
        await executions.create_or_get(make_execution(execution_id, f"k-{execution_id}"), T0)
    return ids


async def test_writes_reach_the_main_file_once_they_pause(tmp_path: Path) -> None:
    path = tmp_path / "tpf.sqlite3"
    db = await SqliteDatabase.open(str(path), checkpoint_idle_s=0.05)
    try:
        ids = await write(db, 20)
        deadline = asyncio.get_running_loop().time() + 10
        while main_file_executions(path, tmp_path) != ids:
            assert asyncio.get_running_loop().time() < deadline, "no checkpoint after the pause"
            await asyncio.sleep(0.02)  # polling the file: the checkpoint has no event to await
    finally:
        await db.close()


async def test_the_default_pause_checkpoints_a_small_database(tmp_path: Path) -> None:
    """With the defaults, a database far below SQLite's 1000-page auto-checkpoint (the report's
    4 KB main file beside a 2 MB WAL) still reaches its main file while it stays open."""
    path = tmp_path / "tpf.sqlite3"
    db = await SqliteDatabase.open(str(path))
    try:
        ids = await write(db, 5)
        deadline = asyncio.get_running_loop().time() + 15
        while main_file_executions(path, tmp_path) != ids:
            assert asyncio.get_running_loop().time() < deadline, "the WAL was never checkpointed"
            await asyncio.sleep(0.05)  # polling the file: the checkpoint has no event to await
    finally:
        await db.close()


async def test_commits_that_never_pause_are_checkpointed_every_n(tmp_path: Path) -> None:
    path = tmp_path / "tpf.sqlite3"
    db = await SqliteDatabase.open(str(path), checkpoint_idle_s=3600, checkpoint_every=1)
    try:
        ids = await write(db, 3)
        # The thread checkpoints after answering a batch; a later op is answered only after it.
        await db.run(lambda conn: None)
        assert main_file_executions(path, tmp_path) == ids
        assert db.checkpoints >= 3
    finally:
        await db.close()


async def test_close_checkpoints_even_with_another_connection_open(tmp_path: Path) -> None:
    path = tmp_path / "tpf.sqlite3"
    db = await SqliteDatabase.open(str(path), checkpoint_idle_s=3600)
    # An operator's sqlite3 shell, or ``tpf state check``: SQLite checkpoints on close only as
    # the last connection, so without an explicit checkpoint the data would stay in the WAL.
    reader = sqlite3.connect(path)
    reader.execute("SELECT count(*) FROM sqlite_master").fetchall()  # really attached to the WAL
    try:
        ids = await write(db, 10)
        assert main_file_executions(path, tmp_path) == set()  # still all in the WAL
        await db.close()
        assert main_file_executions(path, tmp_path) == ids
        assert wal_bytes(path) == 0  # TRUNCATE: nothing left beside it
    finally:
        reader.close()
