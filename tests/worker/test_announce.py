"""A worker's lifecycle records through the coordinator's admin API (against a real edge), on
the hosted-workers schedule: register, heartbeat when due, re-register a record that is gone,
drain; the coordinator's refusals are errors naming what it said."""

from __future__ import annotations

from pathlib import Path

import pytest

from demos.restaurant_approval import pipeline as restaurant
from tests.ha.cluster import ADMIN_TOKEN, TENANT, free_port
from tests.worker.support import coordinator_edge
from tpf.core.clock import FakeClock, SystemClock
from tpf.core.errors import NotFound, TpfError
from tpf.core.records import WorkerState
from tpf.supervisors.hosted_workers import HostedWorkers
from tpf.transports.workers.local import LocalTransitionWorker
from tpf.worker.announce import AdminApiCommands, Registration

REGISTRATION = Registration("rest", "http://worker-1:8181", "restaurant-worker", "sha256:feed")


async def test_records_follow_the_hosted_workers_schedule_over_the_admin_api(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with coordinator_edge(tmp_path, monkeypatch, "rest", "http://127.0.0.1:1") as edge:
        c = edge.coordinator
        commands = AdminApiCommands(edge.url, ADMIN_TOKEN, REGISTRATION)
        clock = FakeClock()
        hosted = HostedWorkers(
            commands, None, clock, instance="worker-1:8181", stale_after_ms=8_000
        )
        worker = LocalTransitionWorker(restaurant, SystemClock())
        pid, cv, rv = worker.identity
        try:
            hosted.announce(TENANT, worker)
            assert hosted.pending == 1
            assert await hosted.tick() == 1  # registered
            assert hosted.pending == 0
            [record] = await c.list_workers(TENANT, pid)
            assert record.worker_id == f"worker-1:8181@{rv}"
            assert (record.contract_version, record.release_version) == (cv, rv)
            assert (record.protocol, record.endpoint) == ("rest", "http://worker-1:8181")
            assert (record.artifact_id, record.artifact_digest) == (
                "restaurant-worker",
                "sha256:feed",
            )
            assert record.state is WorkerState.HEALTHY
            assert await hosted.tick() == 0  # nothing due yet
            clock.advance(2_000)  # a quarter of stale-after
            assert await hosted.tick() == 1  # the heartbeat (its id has ':' and '@' in the path)
            assert await hosted.drain() == 1
            [record] = await c.list_workers(TENANT, pid)
            assert record.state is WorkerState.DRAINING
            with pytest.raises(NotFound, match="Worker not found"):
                await commands.heartbeat_worker(TENANT, pid, "nobody")
        finally:
            await commands.aclose()
        wrong = AdminApiCommands(edge.url, "not-the-token", REGISTRATION)
        try:
            with pytest.raises(TpfError, match="answered 401: UNAUTHORIZED"):
                await wrong.register_local_worker(TENANT, worker, "w")
        finally:
            await wrong.aclose()
    nowhere = AdminApiCommands(f"http://127.0.0.1:{free_port()}", ADMIN_TOKEN, REGISTRATION)
    try:
        with pytest.raises(TpfError, match="unreachable"):
            await nowhere.drain_worker(TENANT, pid, "w")
    finally:
        await nowhere.aclose()
