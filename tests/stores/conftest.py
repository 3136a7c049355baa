"""Fixtures giving every store implementation, so one contract body runs against each.

The DynamoDB stores run on the session's moto server, on tables created once and emptied before
each test (``dynamo_settings``, :class:`tests.shared_tables.SharedTables`).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tpf.aws.clients import AwsClients
from tpf.config.settings import Settings
from tpf.stores.base import (
    AwaitStore,
    ExecutionStore,
    HeldCompletionStore,
    ItemStore,
    ReleaseStore,
    WorkerStore,
)
from tpf.stores.dynamo import (
    DynamoAwaitStore,
    DynamoExecutionStore,
    DynamoHeldCompletionStore,
    DynamoItemStore,
    DynamoReleaseStore,
    DynamoWorkerStore,
)
from tpf.stores.memory import (
    MemoryAwaitStore,
    MemoryExecutionStore,
    MemoryHeldCompletionStore,
    MemoryItemStore,
    MemoryReleaseStore,
    MemoryWorkerStore,
)
from tpf.stores.releases.file import FileReleaseStore
from tpf.stores.sqlite import (
    SqliteAwaitStore,
    SqliteDatabase,
    SqliteExecutionStore,
    SqliteHeldCompletionStore,
    SqliteItemStore,
    SqliteWorkerStore,
)


@contextlib.asynccontextmanager
async def dynamo_for(
    request: pytest.FixtureRequest, **providers: str
) -> AsyncIterator[tuple[Any, Settings]]:
    """A DynamoDB client on the shared, emptied tables (:class:`SharedTables`), with settings in
    which only ``providers`` are ``dynamo``."""
    base: Settings = request.getfixturevalue("dynamo_settings")
    settings = base.replace(
        **{
            "state__provider": "memory",
            "releases__registry_provider": "memory",
            "workers__lifecycle_provider": "memory",
            **providers,
        }
    )
    clients = AwsClients(settings)
    try:
        yield await clients.client("dynamodb"), settings
    finally:
        await clients.close()


@pytest.fixture
async def sqlite_db(tmp_path: Path) -> AsyncIterator[SqliteDatabase]:
    db = await SqliteDatabase.open(str(tmp_path / "state" / "tpf.sqlite3"))
    yield db
    await db.close()


@pytest.fixture(params=["memory", "sqlite", "dynamo"])
async def execution_store(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[ExecutionStore]:
    if request.param == "memory":
        yield MemoryExecutionStore()
        return
    if request.param == "dynamo":
        async with dynamo_for(request, state__provider="dynamo") as (client, settings):
            yield DynamoExecutionStore(client, settings)
        return
    db = await SqliteDatabase.open(str(tmp_path / "tpf.sqlite3"))
    yield SqliteExecutionStore(db)
    await db.close()


@pytest.fixture(params=["memory", "sqlite", "dynamo"])
async def await_store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[AwaitStore]:
    if request.param == "memory":
        yield MemoryAwaitStore()
        return
    if request.param == "dynamo":
        async with dynamo_for(request, state__provider="dynamo") as (client, settings):
            yield DynamoAwaitStore(client, settings)
        return
    db = await SqliteDatabase.open(str(tmp_path / "tpf.sqlite3"))
    yield SqliteAwaitStore(db)
    await db.close()


@pytest.fixture(params=["memory", "sqlite", "dynamo"])
async def held_store(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[HeldCompletionStore]:
    if request.param == "memory":
        yield MemoryHeldCompletionStore()
        return
    if request.param == "dynamo":
        async with dynamo_for(request, state__provider="dynamo") as (client, settings):
            yield DynamoHeldCompletionStore(client, settings)
        return
    db = await SqliteDatabase.open(str(tmp_path / "tpf.sqlite3"))
    yield SqliteHeldCompletionStore(db)
    await db.close()


@pytest.fixture(params=["memory", "sqlite", "dynamo"])
async def item_store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[ItemStore]:
    if request.param == "memory":
        yield MemoryItemStore()
        return
    if request.param == "dynamo":
        async with dynamo_for(request, state__provider="dynamo") as (client, settings):
            yield DynamoItemStore(client, settings)
        return
    db = await SqliteDatabase.open(str(tmp_path / "tpf.sqlite3"))
    yield SqliteItemStore(db)
    await db.close()


@pytest.fixture(params=["memory", "sqlite", "dynamo"])
async def worker_store(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[WorkerStore]:
    if request.param == "memory":
        yield MemoryWorkerStore()
        return
    if request.param == "dynamo":
        async with dynamo_for(request, workers__lifecycle_provider="dynamo") as (client, settings):
            yield DynamoWorkerStore(client, settings)
        return
    db = await SqliteDatabase.open(str(tmp_path / "tpf.sqlite3"))
    yield SqliteWorkerStore(db)
    await db.close()


@pytest.fixture(params=["memory", "file", "dynamo"])
async def release_store(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[ReleaseStore]:
    if request.param == "memory":
        yield MemoryReleaseStore()
    elif request.param == "file":
        yield await FileReleaseStore.open(str(tmp_path / "releases"))
    else:
        async with dynamo_for(request, releases__registry_provider="dynamo") as (client, settings):
            yield DynamoReleaseStore(client, settings)
