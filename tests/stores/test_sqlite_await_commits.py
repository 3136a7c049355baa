"""A park and a resume on SQLite each commit the execution and its interaction in one
database-thread operation (tpf.stores.sqlite.await_commits), and the completion of an
interaction this coordinator just parked on makes no read before its conditional write:
counted as the operations one restaurant execution queues to the database thread. When a
condition fails the joint operation writes nothing, and the general path decides."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from msgspec.structs import replace

from bench.workload import TENANT, one_execution, order, release_restaurant
from demos.restaurant_approval.pipeline import PIPELINE_ID
from tpf.config.settings import ReleaseSettings, Settings, StateSettings, WorkerSettings
from tpf.coordinator import Coordinator
from tpf.core import interactions as inter
from tpf.core.records import ExecutionStatus
from tpf.stores.factory import open_stores
from tpf.stores.sqlite.db import GroupCommitDatabase


@pytest.fixture
async def coordinator(tmp_path: Path) -> AsyncIterator[Coordinator]:
    settings = Settings(
        state=StateSettings(provider="sqlite", dir=str(tmp_path / "state")),
        workers=WorkerSettings(lifecycle_provider="sqlite"),
        releases=ReleaseSettings(registry_provider="file"),
    )
    coordinator = Coordinator(settings, await open_stores(settings))
    await coordinator.start()
    await release_restaurant(coordinator, tmp_path / "build")
    try:
        yield coordinator
    finally:
        await coordinator.close()


@contextmanager
def database_ops(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The operations queued to every SQLite database thread meanwhile, by the class and method
    that queued them (``SqliteAwaitStore.get``)."""
    seen: list[str] = []
    run = GroupCommitDatabase.run

    async def counted(self: GroupCommitDatabase, op: Callable[[Any], Any], **kw: Any) -> Any:
        seen.append(op.__qualname__.split(".<locals>")[0])
        return await run(self, op, **kw)

    with monkeypatch.context() as patch:
        patch.setattr(GroupCommitDatabase, "run", counted)
        yield seen


def on_interactions(ops: list[str]) -> list[str]:
    return [op for op in ops if op.startswith(("SqliteAwaitStore.", "SqliteAwaitCommits."))]


async def test_park_and_resume_write_the_interaction_in_the_executions_operation(
    coordinator: Coordinator, monkeypatch: pytest.MonkeyPatch
) -> None:
    await one_execution(coordinator, 0)  # warm: admission and worker caches
    with database_ops(monkeypatch) as ops:
        await one_execution(coordinator, 1)
    # The park (interaction + execution), the bench client's read of the task it answers, the
    # completion's conditional write with no lookup first, then the resume (execution +
    # interaction marked applied): no read-back after the park, no separate applied write.
    assert on_interactions(ops) == [
        "SqliteAwaitCommits.park",
        "SqliteAwaitStore.get",
        "SqliteAwaitStore.compare_and_set",
        "SqliteAwaitCommits.resume",
    ], ops
    assert await coordinator.stores.awaits.find_unapplied(10) == []  # the resume marked it


async def parked_task(coordinator: Coordinator, i: int) -> tuple[Any, Any]:
    submitted = await coordinator.submit(TENANT, PIPELINE_ID, order(i))
    parked = await coordinator.wait_for(
        TENANT, submitted.execution_id, (ExecutionStatus.WAITING_EXTERNAL,), timeout_s=30
    )
    assert parked.await_interaction_id is not None
    return parked, await coordinator.interaction(TENANT, parked.await_interaction_id)


async def test_a_joint_operation_whose_condition_fails_writes_nothing(
    coordinator: Coordinator,
) -> None:
    joint = coordinator.stores.await_commits
    assert joint is not None
    parked, interaction = await parked_task(coordinator, 1)
    again = replace(parked, version=parked.version + 1)
    # The interaction exists (a re-run's park): refused, the execution untouched.
    assert await joint.park(again, parked.version, interaction) is None
    # A new interaction but a stale execution version (a lost lease): the interaction goes too.
    other = replace(interaction, interaction_id="other", correlation_id="other-correlation")
    assert await joint.park(again, parked.version - 1, other) is None
    assert await coordinator.stores.awaits.get(TENANT, "other") is None
    # The interaction is not at that version: the execution's write goes too.
    applied = inter.mark_applied(interaction, coordinator.clock.now_ms())
    assert await joint.resume(again, parked.version, applied, interaction.version + 5) is None
    assert (await coordinator.status(TENANT, parked.execution_id)).version == parked.version
    current = await coordinator.interaction(TENANT, interaction.interaction_id)
    assert current.version == interaction.version and not current.applied


async def test_a_completion_on_a_stale_parked_copy_reads_again_and_completes(
    coordinator: Coordinator, monkeypatch: pytest.MonkeyPatch
) -> None:
    parked, task = await parked_task(coordinator, 2)
    # Another writer changes the interaction behind this coordinator's parked copy.
    bumped = replace(task, version=task.version + 1, assignee="someone-else")
    assert await coordinator.stores.awaits.compare_and_set(bumped, task.version) is not None
    with database_ops(monkeypatch) as ops:
        await coordinator.complete(
            TENANT,
            interaction_id=task.interaction_id,
            response={"accepted": {"orderId": task.request_payload["orderId"]}},
        )
    # The copy's write failed on its version, the read found the current one, which won.
    assert on_interactions(ops)[:3] == [
        "SqliteAwaitStore.compare_and_set",
        "SqliteAwaitStore.get",
        "SqliteAwaitStore.compare_and_set",
    ], ops
    done = await coordinator.wait_for(
        TENANT, parked.execution_id, (ExecutionStatus.SUCCEEDED,), timeout_s=30
    )
    assert done.status is ExecutionStatus.SUCCEEDED
    current = await coordinator.interaction(TENANT, task.interaction_id)
    assert current.assignee == "someone-else" and current.applied
