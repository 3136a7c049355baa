"""The state-directory lock (tpf/stores/state_lock.py) and the lease expiry it allows."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from tpf.config.settings import Settings, StateSettings
from tpf.core.errors import ConfigError
from tpf.core.records import ExecutionStatus
from tpf.stores.factory import open_stores
from tpf.stores.state_lock import LOCK_FILE, StateDirInUse, locked_directories

from .test_execution_store_contract import LEASE, T0
from .test_execution_store_contract import make as make_execution

MEMORY = {
    "state__provider": "memory",
    "workers__lifecycle_provider": "memory",
    "releases__registry_provider": "memory",
}


def settings_in(state: Path, **overrides: object) -> Settings:
    return Settings(state=StateSettings(dir=str(state))).replace(**overrides)


def test_which_providers_lock_which_directories(tmp_path: Path) -> None:
    state = tmp_path / "state"
    assert locked_directories(settings_in(state)) == [state.resolve()]  # the embedded default
    assert locked_directories(settings_in(state, **MEMORY)) == []  # local artifacts alone
    assert locked_directories(
        settings_in(state, **{**MEMORY, "releases__registry_provider": "file"})
    ) == [state.resolve()]
    assert locked_directories(settings_in(state, **{**MEMORY, "state__provider": "sqlite"})) == [
        state.resolve()
    ]
    dynamo = {k: "dynamo" for k in MEMORY}
    assert locked_directories(settings_in(state, **dynamo)) == []
    # Moved out of the state directory: its own directory is locked too.
    moved = settings_in(state, sqlite__path=str(tmp_path / "db" / "tpf.sqlite3"))
    assert locked_directories(moved) == [(tmp_path / "db").resolve(), state.resolve()]


async def test_a_second_open_names_the_directory_and_the_holder(tmp_path: Path) -> None:
    settings = settings_in(tmp_path / "state")
    stores = await open_stores(settings)
    lock_file = tmp_path / "state" / LOCK_FILE
    try:
        assert lock_file.read_text() == f"{os.getpid()}\n"
        with pytest.raises(StateDirInUse) as refused:
            await open_stores(settings)
        assert str((tmp_path / "state").resolve()) in refused.value.message
        assert f"pid {os.getpid()}" in refused.value.message
    finally:
        await stores.close()
    assert lock_file.read_text() == ""  # released: no pid of a holder that is gone
    reopened = await open_stores(settings)  # and free again
    await reopened.close()


async def test_a_failed_open_releases_the_lock(tmp_path: Path) -> None:
    settings = settings_in(tmp_path)
    registry = tmp_path / "releases" / "registry" / "releases.json"
    registry.parent.mkdir(parents=True)
    registry.write_text("{not json")
    with pytest.raises(ConfigError, match="not readable"):
        await open_stores(settings)
    registry.unlink()
    stores = await open_stores(settings)
    await stores.close()


async def test_memory_state_takes_no_lock(tmp_path: Path) -> None:
    settings = settings_in(tmp_path, **MEMORY)
    first, second = await open_stores(settings), await open_stores(settings)
    assert first.expire_leases is None
    await first.close()
    await second.close()


async def test_only_locked_sqlite_state_offers_lease_expiry(tmp_path: Path) -> None:
    file_registry = settings_in(tmp_path, **{**MEMORY, "releases__registry_provider": "file"})
    stores = await open_stores(file_registry)  # locked, but the executions live in memory
    try:
        assert stores.expire_leases is None
    finally:
        await stores.close()


async def test_expire_leases_makes_other_owners_leases_due_now(tmp_path: Path) -> None:
    stores = await open_stores(settings_in(tmp_path))
    executions = stores.executions
    running = ExecutionStatus.RUNNING
    expires = T0 + LEASE
    live: dict[str, Any] = dict(status=running, next_due=expires, lease_expires_epoch_ms=expires)
    try:
        for record in (
            make_execution("dead", "k1", lease_owner="old", **live),
            make_execution("mine", "k2", lease_owner="me", **live),
            make_execution("retry", "k3", status=ExecutionStatus.WAIT_RETRY, next_due=T0 + 5_000),
            make_execution("lapsed", "k4", status=running, next_due=T0 - 1, lease_owner="old"),
        ):
            await executions.create_or_get(record, T0)
        assert [r.execution_id for r in await executions.find_due(T0, 10)] == ["lapsed"]

        assert stores.expire_leases is not None
        assert await stores.expire_leases("me", T0) == 1
        due = await executions.find_due(T0, 10)
        assert [r.execution_id for r in due] == ["lapsed", "dead"]
        dead = due[1]
        assert (dead.version, dead.lease_expires_epoch_ms, dead.lease_owner) == (0, T0, "old")
        mine = await executions.get("t1", "mine", T0)
        assert mine is not None and mine.next_due_epoch_ms == T0 + LEASE  # ours: untouched
        claimed = await executions.claim_lease("t1", "dead", "me", T0, LEASE)
        assert claimed is not None and claimed.version == 1 and claimed.lease_owner == "me"
        assert await stores.expire_leases("me", T0) == 0
    finally:
        await stores.close()
