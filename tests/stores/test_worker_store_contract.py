"""The WorkerStore contract, run against every implementation (see conftest)."""

from __future__ import annotations

from msgspec.structs import replace

from tpf.core.records import WorkerEvent, WorkerEventType, WorkerState
from tpf.stores.base import WorkerStore

T0 = 1_760_000_000_000


def event(kind: WorkerEventType, at: int, worker_id: str = "w1", **fields: str) -> WorkerEvent:
    return WorkerEvent(
        tenant_id="t1",
        pipeline_id="p",
        worker_id=worker_id,
        event_type=kind,
        at_epoch_ms=at,
        **fields,
    )


def register(at: int, worker_id: str = "w1", release: str = "r1") -> WorkerEvent:
    return event(
        WorkerEventType.REGISTER,
        at,
        worker_id,
        contract_version="c1",
        release_version=release,
        protocol="rest",
        endpoint="http://w",
        artifact_id="jar",
        artifact_digest="sha256:ab",
    )


async def test_register_heartbeat_drain_fold(worker_store: WorkerStore) -> None:
    registered = await worker_store.append(register(T0))
    assert registered is not None
    assert registered.state == WorkerState.HEALTHY
    assert (registered.release_version, registered.protocol) == ("r1", "rest")
    assert registered.registered_at_epoch_ms == registered.last_heartbeat_at_epoch_ms == T0

    beat = await worker_store.append(event(WorkerEventType.HEARTBEAT, T0 + 5))
    assert beat is not None
    assert (beat.last_heartbeat_at_epoch_ms, beat.registered_at_epoch_ms) == (T0 + 5, T0)

    drained = await worker_store.append(event(WorkerEventType.DRAIN, T0 + 6))
    assert drained is not None
    assert (drained.state, drained.draining_since_epoch_ms) == (WorkerState.DRAINING, T0 + 6)
    # A heartbeat keeps a drained worker draining.
    beat = await worker_store.append(event(WorkerEventType.HEARTBEAT, T0 + 7))
    assert beat is not None
    assert (beat.state, beat.last_heartbeat_at_epoch_ms) == (WorkerState.DRAINING, T0 + 7)
    assert await worker_store.get("t1", "p", "w1") == beat


async def test_unknown_worker_events_store_nothing(worker_store: WorkerStore) -> None:
    assert await worker_store.append(event(WorkerEventType.HEARTBEAT, T0)) is None
    assert await worker_store.append(event(WorkerEventType.DRAIN, T0)) is None
    assert await worker_store.get("t1", "p", "w1") is None
    assert await worker_store.list("t1", "p") == []


async def test_reregister_resets_identity_and_clears_drain(worker_store: WorkerStore) -> None:
    await worker_store.append(register(T0))
    await worker_store.append(event(WorkerEventType.DRAIN, T0 + 1))
    again = await worker_store.append(register(T0 + 2, release="r2"))
    assert again is not None
    assert (again.state, again.draining_since_epoch_ms) == (WorkerState.HEALTHY, 0)
    assert (again.release_version, again.registered_at_epoch_ms) == ("r2", T0 + 2)
    assert await worker_store.get("t1", "p", "w1") == again


async def test_list_is_ordered_by_worker_id(worker_store: WorkerStore) -> None:
    for worker_id in ("w2", "w3", "w1"):
        await worker_store.append(register(T0, worker_id))
    await worker_store.append(replace(register(T0, "w0"), pipeline_id="q"))
    assert [w.worker_id for w in await worker_store.list("t1", "p")] == ["w1", "w2", "w3"]
    assert [w.worker_id for w in await worker_store.list("t1", "q")] == ["w0"]
    assert await worker_store.get("t2", "p", "w1") is None
