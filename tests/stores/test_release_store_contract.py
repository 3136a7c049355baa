"""The ReleaseStore contract, run against the memory and file registries (see conftest)."""

from __future__ import annotations

from pathlib import Path

import pytest
from msgspec.structs import replace

from tpf.core.errors import Conflict, NotFound
from tpf.core.records import ReleaseRecord, ReleaseStatus
from tpf.stores.base import ReleaseStore
from tpf.stores.releases.file import FileReleaseStore

T0 = 1_760_000_000_000


def make(version: str = "r1", *, created: int = T0, pipeline: str = "p") -> ReleaseRecord:
    return ReleaseRecord(
        tenant_id="t1",
        pipeline_id=pipeline,
        contract_version="c1",
        release_version=version,
        descriptor={"schemaVersion": 1, "releaseVersion": version, "extra": [1, 2]},
        primary_artifact_id="jar",
        primary_artifact_digest="sha256:" + "a" * 64,
        primary_artifact_uri="file:///a.jar",
        primary_artifact_size_bytes=10,
        primary_artifact_checksum="sha256:" + "a" * 64,
        contract={"pipelineId": pipeline, "steps": []},
        created_at_epoch_ms=created,
        updated_at_epoch_ms=created,
    )


async def test_register_is_idempotent(release_store: ReleaseStore) -> None:
    record = make()
    stored = await release_store.register(record)
    assert stored == record
    assert stored.status == ReleaseStatus.REGISTERED
    # Same immutable metadata registered later: the original record comes back.
    assert await release_store.register(replace(record, created_at_epoch_ms=T0 + 5)) == record
    assert await release_store.get("t1", "p", "r1") == record
    assert await release_store.get("t1", "p", "nope") is None
    assert await release_store.get("t2", "p", "r1") is None


async def test_register_different_metadata_conflicts(release_store: ReleaseStore) -> None:
    await release_store.register(make())
    # Every store's 409 names what differs, down to the descriptor's fields.
    size = r"\(releaseVersion r1; differing: primaryArtifactSizeBytes\)"
    with pytest.raises(Conflict, match=size):
        await release_store.register(replace(make(), primary_artifact_size_bytes=11))
    changed = {"schemaVersion": 1, "releaseVersion": "r1", "extra": [1, 3], "new": True}
    with pytest.raises(Conflict, match=r"differing: descriptor\.extra\[1\], descriptor\.new\)"):
        await release_store.register(replace(make(), descriptor=changed))


async def test_list_is_ordered_by_creation(release_store: ReleaseStore) -> None:
    await release_store.register(make("r2", created=T0 + 2))
    await release_store.register(make("r1", created=T0 + 1))
    await release_store.register(make("r3", created=T0 + 3))
    await release_store.register(make("other", pipeline="q"))
    listed = await release_store.list("t1", "p")
    assert [r.release_version for r in listed] == ["r1", "r2", "r3"]
    assert await release_store.list("t1", "none") == []


async def test_activate_unknown_is_not_found(release_store: ReleaseStore) -> None:
    with pytest.raises(NotFound):
        await release_store.activate("t1", "p", "r1", T0)
    assert await release_store.active("t1", "p") is None


async def test_activation_derives_statuses(release_store: ReleaseStore) -> None:
    await release_store.register(make("r1"))
    await release_store.register(make("r2", created=T0 + 1))
    assert await release_store.active("t1", "p") is None

    active = await release_store.activate("t1", "p", "r1", T0 + 10)
    assert (active.status, active.activated_at_epoch_ms) == (ReleaseStatus.ACTIVE, T0 + 10)
    assert await release_store.active("t1", "p") == active

    second = await release_store.activate("t1", "p", "r2", T0 + 20)
    assert second.status == ReleaseStatus.ACTIVE
    assert await release_store.active("t1", "p") == second
    older = await release_store.get("t1", "p", "r1")
    assert older is not None
    assert older.status == ReleaseStatus.REGISTERED
    statuses = {r.release_version: r.status for r in await release_store.list("t1", "p")}
    assert statuses == {"r1": ReleaseStatus.REGISTERED, "r2": ReleaseStatus.ACTIVE}

    # Rolling back is re-activating the older version.
    back = await release_store.activate("t1", "p", "r1", T0 + 30)
    assert back.activated_at_epoch_ms == T0 + 30
    active_now = await release_store.active("t1", "p")
    assert active_now is not None
    assert active_now.release_version == "r1"


async def test_file_registry_survives_reopen(tmp_path: Path) -> None:
    store = await FileReleaseStore.open(str(tmp_path))
    await store.register(make("r1"))
    await store.register(make("r2", created=T0 + 1))
    await store.activate("t1", "p", "r2", T0 + 5)
    assert (tmp_path / "registry" / "releases.json").is_file()

    reopened = await FileReleaseStore.open(str(tmp_path))
    assert await reopened.list("t1", "p") == await store.list("t1", "p")
    active = await reopened.active("t1", "p")
    assert active is not None
    assert (active.release_version, active.activated_at_epoch_ms) == ("r2", T0 + 5)
    assert [p.name for p in (tmp_path / "registry").iterdir()] == ["releases.json"]
