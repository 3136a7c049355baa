"""SqliteDatabase: persistence across reopen and SIGKILL, group commit, op isolation, close."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import subprocess
import sys
import textwrap
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from msgspec.structs import replace

from tpf.config.settings import ReleaseSettings, Settings, StateSettings, WorkerSettings
from tpf.core.errors import ConfigError, StoreUnavailable
from tpf.core.records import ExecutionStatus, InteractionStatus, WorkerEventType
from tpf.stores.factory import open_stores
from tpf.stores.memory import MemoryExecutionStore
from tpf.stores.releases.file import FileReleaseStore
from tpf.stores.sqlite import (
    SqliteAwaitStore,
    SqliteDatabase,
    SqliteExecutionStore,
    SqliteWorkerStore,
)

from .test_await_store_contract import make as make_interaction
from .test_execution_store_contract import T0
from .test_execution_store_contract import make as make_execution
from .test_worker_store_contract import event, register

ROOT = Path(__file__).resolve().parents[2]


async def test_data_survives_close_and_reopen(tmp_path: Path) -> None:
    path = str(tmp_path / "nested" / "dir" / "tpf.sqlite3")  # parent directories are created
    db = await SqliteDatabase.open(path)
    executions, awaits, workers = (
        SqliteExecutionStore(db),
        SqliteAwaitStore(db),
        SqliteWorkerStore(db),
    )
    await executions.create_or_get(make_execution(), T0)
    claimed = await executions.claim_lease("t1", "e1", "w", T0, 1_000)
    interaction, _ = await awaits.create_or_get(make_interaction(assignee="ann"))
    await workers.append(register(T0))
    worker = await workers.append(event(WorkerEventType.HEARTBEAT, T0 + 1))
    await db.close()

    db = await SqliteDatabase.open(path)
    try:
        executions, awaits, workers = (
            SqliteExecutionStore(db),
            SqliteAwaitStore(db),
            SqliteWorkerStore(db),
        )
        assert await executions.get("t1", "e1", T0) == claimed
        assert await executions.create_or_get(make_execution("e2"), T0) == (claimed, True)
        assert await executions.find_due(T0 + 1_000, 10) == [claimed]
        assert await awaits.query_pending("t1", assignee="ann") == [interaction]
        assert await workers.list("t1", "p") == [worker]
        history = await db.run(
            lambda conn: conn.execute("SELECT seq FROM worker_events ORDER BY seq").fetchall()
        )
        assert history == [(1,), (2,)]  # the event log keeps every append
    finally:
        await db.close()


async def test_committed_writes_survive_sigkill(tmp_path: Path) -> None:
    path = tmp_path / "tpf.sqlite3"
    script = textwrap.dedent(
        f"""
        import asyncio, os, signal
        from tpf.stores.sqlite import SqliteDatabase, SqliteExecutionStore
        from tests.stores.test_execution_store_contract import T0, make

        async def main():
            db = await SqliteDatabase.open({str(path)!r})
            store = SqliteExecutionStore(db)
            await asyncio.gather(
                *(store.create_or_get(make(f"e{{i}}", f"k{{i}}"), T0) for i in range(200))
            )
            os.kill(os.getpid(), signal.SIGKILL)  # no close, no checkpoint

        asyncio.run(main())
        """
    )
    result = await asyncio.to_thread(
        subprocess.run, [sys.executable, "-c", script], cwd=ROOT, capture_output=True
    )
    assert result.returncode == -9, result.stderr.decode()
    db = await SqliteDatabase.open(str(path))
    try:
        counts = await SqliteExecutionStore(db).count_by_status()
        assert counts == {"QUEUED": 200}
    finally:
        await db.close()


async def test_many_concurrent_writes_all_commit(sqlite_db: SqliteDatabase) -> None:
    store = SqliteExecutionStore(sqlite_db)
    records = [make_execution(f"e{i}", f"k{i}") for i in range(500)]
    await asyncio.gather(*(store.create_or_get(r, T0) for r in records))
    updated = [replace(r, version=1, status=ExecutionStatus.SUCCEEDED) for r in records]
    results = await asyncio.gather(*(store.compare_and_set(r, 0) for r in updated))
    assert results == updated
    assert await store.count_by_status() == {"SUCCEEDED": 500}


async def test_failing_op_rolls_back_only_itself(sqlite_db: SqliteDatabase) -> None:
    await sqlite_db.run(lambda conn: conn.execute("CREATE TABLE t (v INTEGER)"))
    gate = threading.Event()
    started = threading.Event()

    def blocker(conn: sqlite3.Connection) -> None:
        started.set()
        gate.wait()  # holds the thread so the next ops queue up into one batch

    def insert(value: int, fail: bool = False) -> Callable[[sqlite3.Connection], int]:
        def op(conn: sqlite3.Connection) -> int:
            conn.execute("INSERT INTO t VALUES (?)", (value,))
            if fail:
                raise RuntimeError("boom")
            return value

        return op

    blocked = asyncio.ensure_future(sqlite_db.run(blocker))
    await asyncio.to_thread(started.wait)

    async def release() -> None:
        gate.set()

    results = await asyncio.gather(
        sqlite_db.run(insert(1)),
        sqlite_db.run(insert(2, fail=True)),
        sqlite_db.run(insert(3)),
        release(),
        return_exceptions=True,
    )
    await blocked
    assert results[0] == 1 and results[2] == 3
    assert isinstance(results[1], RuntimeError)
    rows = await sqlite_db.run(lambda conn: conn.execute("SELECT v FROM t").fetchall())
    assert sorted(rows) == [(1,), (3,)]


async def test_correlation_conflict_in_batch_does_not_affect_others(
    sqlite_db: SqliteDatabase,
) -> None:
    store = SqliteAwaitStore(sqlite_db)
    items = [make_interaction(f"i{i}") for i in range(50)]
    clash = make_interaction("clash", correlation_id="c-i7")
    results = await asyncio.gather(
        *(store.create_or_get(i) for i in [*items, clash]), return_exceptions=True
    )
    assert results[:50] == [(i, True) for i in items]
    assert isinstance(results[50], Exception)
    assert len(await store.query_pending("t1", limit=100)) == 50


async def test_close_finishes_queued_work_then_refuses(tmp_path: Path) -> None:
    db = await SqliteDatabase.open(str(tmp_path / "tpf.sqlite3"))
    store = SqliteExecutionStore(db)
    pending = [
        asyncio.ensure_future(store.create_or_get(make_execution(f"e{i}", f"k{i}"), T0))
        for i in range(100)
    ]
    await asyncio.gather(*pending[:1])  # at least one op is in flight before close begins
    await db.close()
    assert all(not d for _, d in await asyncio.gather(*pending))
    with pytest.raises(StoreUnavailable):
        await store.get("t1", "e1", T0)
    await db.close()  # idempotent


async def test_interaction_status_index_follows_resolution(sqlite_db: SqliteDatabase) -> None:
    store = SqliteAwaitStore(sqlite_db)
    item, _ = await store.create_or_get(make_interaction())
    plan = await sqlite_db.run(
        lambda conn: conn.execute(
            "EXPLAIN QUERY PLAN SELECT data FROM interactions INDEXED BY interactions_overdue "
            "WHERE pending = 1 AND deadline_epoch_ms <= 5"
        ).fetchall()
    )
    assert "interactions_overdue" in str(plan)
    await store.compare_and_set(replace(item, version=1, status=InteractionStatus.EXPIRED), 0)
    assert await store.find_overdue(T0 * 2, 10) == []
    assert len(await store.find_unapplied(10)) == 1


async def test_factory_shares_one_database_and_reopens(tmp_path: Path) -> None:
    settings = Settings(state=StateSettings(dir=str(tmp_path / "state")))
    stores = await open_stores(settings)
    assert isinstance(stores.executions, SqliteExecutionStore)
    assert isinstance(stores.awaits, SqliteAwaitStore)
    assert isinstance(stores.workers, SqliteWorkerStore)
    assert isinstance(stores.releases, FileReleaseStore)
    await stores.executions.create_or_get(make_execution(), T0)
    await stores.workers.append(register(T0))
    await stores.close()

    stores = await open_stores(settings)
    try:
        assert await stores.executions.get("t1", "e1", T0) is not None
        assert len(await stores.workers.list("t1", "p")) == 1
    finally:
        await stores.close()
    assert await asyncio.to_thread(os.path.isfile, settings.resolved_sqlite_path)


async def test_factory_memory_providers(tmp_path: Path) -> None:
    settings = Settings(
        state=StateSettings(dir=str(tmp_path), provider="memory"),
        workers=WorkerSettings(lifecycle_provider="memory"),
        releases=ReleaseSettings(registry_provider="memory"),
    )
    stores = await open_stores(settings)
    assert isinstance(stores.executions, MemoryExecutionStore)
    assert stores.closers == []
    await stores.close()


@pytest.mark.parametrize(
    "overrides",
    [
        {"state__provider": "dynamo"},
        {"releases__registry_provider": "dynamo"},
        {"releases__storage_provider": "s3"},
        {"workers__lifecycle_provider": "dynamo"},
    ],
)
async def test_factory_refuses_aws_providers_without_clients(
    tmp_path: Path, overrides: dict[str, str]
) -> None:
    with pytest.raises(ConfigError, match=r"AWS clients|bucket is required"):
        await open_stores(Settings(state=StateSettings(dir=str(tmp_path))).replace(**overrides))


async def test_factory_rejects_unknown_providers(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="is not available in this build yet"):
        await open_stores(Settings(state=StateSettings(dir=str(tmp_path), provider="cassandra")))
