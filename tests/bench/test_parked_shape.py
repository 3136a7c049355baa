"""The parked-scale benchmark shape (``python -m bench parked``) with tiny sizes, and what it
guards: a coordinator's startup and its supervisors' passes read no parked execution, however
many are stored (each finds its work through a partial index that leaves parked ones out)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import tpf.stores.sqlite.awaits as sqlite_awaits
import tpf.stores.sqlite.executions as sqlite_executions
from bench import parked
from bench.workload import release_restaurant
from tpf.coordinator import Coordinator
from tpf.core.records import ExecutionStatus
from tpf.stores.factory import open_stores

PARKED = 300


async def test_the_shape_runs_the_workload_on_top_of_each_size(
    capsys: pytest.CaptureFixture[str],
) -> None:
    results = await parked.run([5, 40], n=6, concurrency=3)
    assert [f.parked for f in results] == [5, 40]  # run_size checks they all stayed parked
    assert all(f.rate > 0 and f.restart_s > 0 and f.cpu_s > 0 for f in results)
    lines = capsys.readouterr().out.splitlines()
    assert "parked=40" in lines[2] and "of the first size" in lines[2]


class Decodes:
    """Counts the records a store decodes (every read of a row goes through these)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.count = 0
        for module, name in (
            (sqlite_executions, "_decode_execution"),
            (sqlite_awaits, "_decode_interaction"),
        ):
            monkeypatch.setattr(module, name, self._counting(getattr(module, name)))

    def _counting(self, decode: Any) -> Any:
        def counted(data: bytes) -> Any:
            self.count += 1
            return decode(data)

        return counted


async def test_startup_and_a_supervisor_round_read_no_parked_execution(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = parked.settings_for(tmp_path)
    first = Coordinator(settings, await open_stores(settings))
    await first.start()
    await release_restaurant(first, tmp_path / "build")
    await parked.seed(first, PARKED)
    await first.close()

    decodes = Decodes(monkeypatch)
    coordinator, _ = await parked.open_ready(settings)
    try:
        await coordinator.run_until_idle()  # sweeper, leases, dead letters, awaits, outbox
        counts = await coordinator.stores.executions.count_by_status()
        during_startup = decodes.count
        # The counter does see reads: ten overdue interactions (a day and more from now).
        later = coordinator.clock.now_ms() + 2 * parked.DAY_MS
        assert len(await coordinator.stores.awaits.find_overdue(later, 10)) == 10
    finally:
        await coordinator.close()
    assert counts[ExecutionStatus.WAITING_EXTERNAL.value] == PARKED
    assert during_startup < 5, during_startup  # not one per parked execution
    assert decodes.count >= during_startup + 10
