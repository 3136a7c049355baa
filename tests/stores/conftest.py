"""Fixtures giving every store implementation, so one contract body runs against each."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tpf.stores.base import AwaitStore, ExecutionStore, ReleaseStore, WorkerStore
from tpf.stores.file_releases import FileReleaseStore
from tpf.stores.memory import (
    MemoryAwaitStore,
    MemoryExecutionStore,
    MemoryReleaseStore,
    MemoryWorkerStore,
)
from tpf.stores.sqlite import (
    SqliteAwaitStore,
    SqliteDatabase,
    SqliteExecutionStore,
    SqliteWorkerStore,
)


@pytest.fixture
async def sqlite_db(tmp_path: Path) -> AsyncIterator[SqliteDatabase]:
    db = await SqliteDatabase.open(str(tmp_path / "state" / "tpf.sqlite3"))
    yield db
    await db.close()


@pytest.fixture(params=["memory", "sqlite"])
async def execution_store(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[ExecutionStore]:
    if request.param == "memory":
        yield MemoryExecutionStore()
        return
    db = await SqliteDatabase.open(str(tmp_path / "tpf.sqlite3"))
    yield SqliteExecutionStore(db)
    await db.close()


@pytest.fixture(params=["memory", "sqlite"])
async def await_store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[AwaitStore]:
    if request.param == "memory":
        yield MemoryAwaitStore()
        return
    db = await SqliteDatabase.open(str(tmp_path / "tpf.sqlite3"))
    yield SqliteAwaitStore(db)
    await db.close()


@pytest.fixture(params=["memory", "sqlite"])
async def worker_store(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[WorkerStore]:
    if request.param == "memory":
        yield MemoryWorkerStore()
        return
    db = await SqliteDatabase.open(str(tmp_path / "tpf.sqlite3"))
    yield SqliteWorkerStore(db)
    await db.close()


@pytest.fixture(params=["memory", "file"])
async def release_store(request: pytest.FixtureRequest, tmp_path: Path) -> ReleaseStore:
    if request.param == "memory":
        return MemoryReleaseStore()
    return await FileReleaseStore.open(str(tmp_path / "releases"))
