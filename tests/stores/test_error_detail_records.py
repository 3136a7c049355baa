"""``errorDetail`` (the failing step's traceback) round-trips through every store, and records
written before the field existed still load (with no detail)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import msgspec

from tpf.core import lifecycle
from tpf.core.records import ExecutionRecord, ExecutionStatus
from tpf.stores.dynamo.codec import execution_from_json, to_json_bytes
from tpf.stores.memory import MemoryExecutionStore
from tpf.stores.sqlite import SqliteDatabase, SqliteExecutionStore

from .test_execution_store_contract import T0
from .test_execution_store_contract import make as make_execution

DETAIL = 'Traceback (most recent call last):\n  File "x.py", line 1, in cook\nValueError: no\n'


def failed_record() -> ExecutionRecord:
    running = make_execution(status=ExecutionStatus.RUNNING)
    return lifecycle.mark_failed(
        running,
        T0,
        error_code="ValueError",
        error_message="no",
        terminal_reason="non_retryable",
        retryable=False,
        error_detail=DETAIL,
    )


def without_detail(record: ExecutionRecord) -> bytes:
    """``record``'s JSON as a build before ``errorDetail`` wrote it."""
    plain = msgspec.to_builtins(record)
    plain.pop("errorDetail")
    for envelope in plain["deadLetters"]:
        envelope.pop("errorDetail")
    return msgspec.json.encode(plain)


async def test_the_detail_round_trips_and_old_sqlite_rows_load(tmp_path: Path) -> None:
    path = str(tmp_path / "tpf.sqlite3")
    record = failed_record()
    assert record.error_detail == DETAIL and record.dead_letters[-1].error_detail == DETAIL
    db = await SqliteDatabase.open(path)
    try:
        store = SqliteExecutionStore(db)
        await store.create_or_get(record, T0)
        stored = await store.get("t1", "e1", T0)
        assert stored is not None and stored.error_detail == DETAIL
        assert stored.dead_letters[-1].error_detail == DETAIL
    finally:
        await db.close()
    with sqlite3.connect(path) as conn:  # rewrite the row as an older build stored it
        conn.execute("UPDATE executions SET data = ?", (without_detail(record),))
    db = await SqliteDatabase.open(path)
    try:
        old = await SqliteExecutionStore(db).get("t1", "e1", T0)
    finally:
        await db.close()
    assert old is not None and old.error_detail is None
    assert old.dead_letters[-1].error_detail is None
    assert old.error_message == "no" and old.status is ExecutionStatus.FAILED


async def test_memory_and_dynamo_json_keep_the_detail_and_read_old_json() -> None:
    record = failed_record()
    memory = MemoryExecutionStore()
    await memory.create_or_get(record, T0)
    stored = await memory.get("t1", "e1", T0)
    assert stored is not None and stored.error_detail == DETAIL
    assert execution_from_json(to_json_bytes(record).decode()).error_detail == DETAIL
    old = execution_from_json(without_detail(record).decode())
    assert old.error_detail is None and old.dead_letters[-1].error_detail is None
