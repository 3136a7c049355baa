"""Two processes opening one SQLite file at once (nonce-guard replicas on one host share a
file): the one that meets the other's write lock while switching the new file to WAL waits for
it instead of refusing to start with "database is locked"."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tpf.core.errors import StoreUnusable
from tpf.stores.nonces.sqlite import NonceDatabase
from tpf.stores.sqlite import db as sqlite_db


class _Retried(logging.Handler):
    """Sets ``event`` when the database thread logs that it met the lock and retries."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.event = threading.Event()

    def emit(self, record: logging.LogRecord) -> None:
        if "retrying WAL" in record.getMessage():
            self.event.set()


@pytest.fixture
def retried() -> Iterator[_Retried]:
    handler = _Retried()
    logger = logging.getLogger(sqlite_db.__name__)
    previous = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    yield handler
    logger.removeHandler(handler)
    logger.setLevel(previous)


def _hold_write_lock(path: Path) -> sqlite3.Connection:
    """Another process's view: a rollback-journal file (as a new one is) mid-write."""
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("CREATE TABLE IF NOT EXISTS elsewhere (x)")
    other.execute("BEGIN IMMEDIATE")
    other.execute("INSERT INTO elsewhere VALUES (1)")
    return other


async def test_open_waits_for_another_connection_switching_the_file(
    tmp_path: Path, retried: _Retried
) -> None:
    path = tmp_path / "shared-nonces.sqlite3"
    other = _hold_write_lock(path)
    opening = asyncio.ensure_future(NonceDatabase.open(str(path)))
    # It met the lock (SQLite refused it at once) and is waiting, not failed.
    assert await asyncio.to_thread(retried.event.wait, 10)
    assert not opening.done()
    other.execute("COMMIT")
    other.close()
    db = await asyncio.wait_for(opening, 10)
    try:
        assert await db.run(lambda conn: conn.execute("PRAGMA journal_mode").fetchone()) == ("wal",)
        await db.probe(write=True)
    finally:
        await db.close()


async def test_a_lock_never_released_is_refused_with_the_file_named(
    tmp_path: Path, retried: _Retried, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sqlite_db, "BUSY_TIMEOUT_MS", 200)
    path = tmp_path / "held.sqlite3"
    other = _hold_write_lock(path)
    try:
        with pytest.raises(StoreUnusable, match=r"held\.sqlite3.*locked"):
            await asyncio.wait_for(NonceDatabase.open(str(path)), 10)
        assert retried.event.is_set()
    finally:
        other.close()
