"""TestEnv's own behaviour: time that drives timers, crashes that behave like SIGKILL (nothing
written after the point, every task gone, the store kept), restart and takeover, and crash hooks
that belong to one coordinator only."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from demos.restaurant_approval.pipeline import pipeline
from tests.testing.flows import order
from tpf.core import crash_points as cp
from tpf.core.records import ExecutionStatus
from tpf.testing import CoordinatorCrashed, SimulatedCrash, TestEnv

WAITING = ExecutionStatus.WAITING_EXTERNAL


def accept(interaction: Any) -> dict[str, Any]:
    return {"accepted": {"orderId": interaction.request_payload["orderId"]}}


@pytest.fixture(params=["memory", "sqlite"])
def store(request: pytest.FixtureRequest) -> str:
    return str(request.param)


async def test_advance_fires_each_timer_in_its_turn(store: str, tmp_path: Path) -> None:
    async with TestEnv(pipeline, store=store, tmp_path=tmp_path) as env:
        eid = await env.submit(order(1))
        assert (await env.status(eid)).status is WAITING
        await env.advance("PT29M")
        assert (await env.status(eid)).status is WAITING  # 30 minutes are not up
        await env.advance(60_001)
        failed = await env.status(eid)
        assert failed.status is ExecutionStatus.FAILED and failed.error_code == "AWAIT_TIMEOUT"
        assert [d.terminal_reason for d in env.dead_letters] == ["await_timeout"]


async def test_retries_back_off_then_exhaust_into_the_dlq(store: str, tmp_path: Path) -> None:
    async with TestEnv(pipeline, store=store, tmp_path=tmp_path, retries__max_retries=3) as env:
        eid = await env.submit(order(1))
        [interaction] = await env.pending(eid)
        env.break_worker(eid)
        await env.complete(interaction, accept(interaction))
        assert (await env.status(eid)).status is ExecutionStatus.WAIT_RETRY
        await env.advance(999)  # the first backoff is 1 s
        assert (await env.status(eid)).attempt == 1
        await env.advance("PT10S")  # 1 s, 2 s, 4 s: each fires in its turn within these 10 s
        failed = await env.status(eid)
        assert failed.status is ExecutionStatus.FAILED
        kinds = [e.kind for e in failed.history]
        assert kinds.count("RETRY_SCHEDULED") == 3 and kinds[-1] == "FAILED"
        assert [d.terminal_reason for d in env.dead_letters] == ["retry_exhausted"]


async def test_a_crash_writes_nothing_after_its_point(store: str, tmp_path: Path) -> None:
    async with TestEnv(pipeline, store=store, tmp_path=tmp_path) as env:
        dead = env.coordinator
        env.crash_at(cp.EXECUTION_CREATE)
        with pytest.raises(CoordinatorCrashed) as crashed:
            await env.submit(order(1), key="k")
        assert crashed.value.point == cp.EXECUTION_CREATE and env.crashed
        with pytest.raises(SimulatedCrash):  # the dead coordinator's stores refuse it
            await dead.stores.executions.find_due(env.clock.now_ms(), 10)
        with pytest.raises(CoordinatorCrashed):  # and so does the env until a restart
            await env.pending()
        await env.restart()
        # Every task of the dead one is gone (the new one has no execution actor yet).
        assert not [t for t in asyncio.all_tasks() if t.get_name().startswith("tpf:execution")]
        eid = await env.submit(order(1), key="k")  # the client retries: the same execution
        record = await env.status(eid)
        # Created (leased to the dead coordinator), never run: no transition was committed.
        assert record.status is ExecutionStatus.RUNNING and record.version == 1
        assert await env.pending(eid) == []
        await env.advance(env.settings.execution.lease_ms + 1)  # its lease runs out
        assert (await env.status(eid)).status is WAITING


async def test_a_takeover_reruns_an_uncommitted_transition_once(store: str, tmp_path: Path) -> None:
    async with TestEnv(pipeline, store=store, tmp_path=tmp_path) as env:
        eid = await env.submit(order(1))
        [interaction] = await env.pending(eid)
        first_owner = env.owner
        env.crash_at(cp.MID_TRANSITION)  # Finalize ran, its result is lost with the process
        with pytest.raises(CoordinatorCrashed):
            await env.complete(interaction, accept(interaction))
        await env.takeover()
        assert env.owner != first_owner
        done = await env.wait_for(eid)
        assert done.status is ExecutionStatus.SUCCEEDED
        assert [e.kind for e in done.history] == ["SUBMITTED", "PARKED", "RESUMED", "SUCCEEDED"]
        assert done.history[-1].coordinator_id == env.owner and done.history[-1].took_over
        assert (await env.complete(interaction, accept(interaction))).duplicate


async def test_a_crash_hook_belongs_to_one_coordinator(tmp_path: Path) -> None:
    async with (
        TestEnv(pipeline, tmp_path=tmp_path / "a") as armed,
        TestEnv(pipeline, tmp_path=tmp_path / "b") as other,
    ):
        armed.crash_at(cp.PARK_COMMIT)
        eid = await other.submit(order(1))  # passes the same point in the same event loop
        assert (await other.status(eid)).status is WAITING and not armed.crashed
        with pytest.raises(CoordinatorCrashed):
            await armed.submit(order(1))
        assert armed.crashed and not other.crashed
        assert other.crash_points_seen[cp.PARK_COMMIT] == 1
        assert armed.crash_points_seen[cp.PARK_COMMIT] == 1


async def test_the_points_a_clean_run_passes_are_recorded(tmp_path: Path) -> None:
    async with TestEnv(pipeline, tmp_path=tmp_path) as env:
        eid = await env.submit(order(1))
        [interaction] = await env.pending(eid)
        await env.complete(interaction, accept(interaction))
        assert set(env.crash_points_seen) == {
            cp.EXECUTION_CREATE,
            cp.MID_TRANSITION,
            cp.INTERACTION_WRITE,
            cp.PARK_COMMIT,
            cp.COMPLETION_ACCEPT,
            cp.RESUME_COMMIT,
            cp.MARK_APPLIED,
            cp.SUCCESS_COMMIT,
        }
        assert env.crash_points_seen[cp.MID_TRANSITION] == 2  # to the await, then to the end


async def test_an_unknown_crash_point_is_refused(tmp_path: Path) -> None:
    async with TestEnv(pipeline, tmp_path=tmp_path) as env:
        with pytest.raises(ValueError, match="unknown crash point"):
            env.crash_at("after:nothing")


def test_a_crash_point_without_a_hook_does_nothing() -> None:
    assert cp.current() is None
    cp.crash_point(cp.PARK_COMMIT)  # outside a TestEnv: no hook, no effect


async def test_a_restart_keeps_the_sqlite_files(tmp_path: Path) -> None:
    async with TestEnv(pipeline, store="sqlite", tmp_path=tmp_path) as env:
        eid = await env.submit(order(1))
        await env.kill()
        await env.restart()
        [interaction] = await env.pending(eid)
        await env.complete(interaction, accept(interaction))
        assert (await env.status(eid)).status is ExecutionStatus.SUCCEEDED
    assert (tmp_path / "state" / "tpf.sqlite3").exists()
