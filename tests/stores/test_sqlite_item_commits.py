"""A stream item's joint writes on SQLite (tpf.stores.sqlite.await_commits): a dispatch creates
the interaction with the item ``AWAITING`` in one database-thread operation and a finish writes
the item ``DONE`` with its interaction marked applied in one more; a joint write whose condition
fails writes nothing (the DynamoDB test's checks, on SQLite), and a stream run on SQLite takes
these paths."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.stores.test_dynamo_item_commits import check_joint_item_writes, run_four_items
from tests.stores.test_sqlite_await_commits import database_ops
from tests.stores.test_streams_dynamo import _release
from tpf.config.settings import ReleaseSettings, Settings, StateSettings, WorkerSettings
from tpf.coordinator import Coordinator
from tpf.stores.factory import open_stores


def sqlite_settings(tmp_path: Path) -> Settings:
    return Settings(
        state=StateSettings(provider="sqlite", dir=str(tmp_path / "state")),
        workers=WorkerSettings(lifecycle_provider="sqlite"),
        releases=ReleaseSettings(registry_provider="file"),
    )


async def test_a_joint_item_write_whose_condition_fails_writes_nothing(tmp_path: Path) -> None:
    stores = await open_stores(sqlite_settings(tmp_path))
    try:
        await check_joint_item_writes(stores)
    finally:
        await stores.close()


async def test_a_stream_item_costs_two_joint_operations_and_its_answer_s_write(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = sqlite_settings(tmp_path)
    c = Coordinator(settings, await open_stores(settings))
    await c.start()
    try:
        await _release(c, tmp_path)
        with database_ops(monkeypatch) as ops:
            await run_four_items(c)
    finally:
        await c.close()
    assert ops.count("SqliteAwaitCommits.dispatch_item") == 4, ops
    assert ops.count("SqliteAwaitCommits.finish_item") == 4, ops
    # Each answer's conditional write is tried on the copy its dispatch left (no lookup first);
    # no separate item write of AWAITING or DONE, and no separate "applied" write.
    assert ops.count("SqliteAwaitStore.get") == 0, ops
    assert ops.count("SqliteAwaitStore.compare_and_set") == 4, ops
    assert ops.count("SqliteItemStore.compare_and_set") == 0, ops
