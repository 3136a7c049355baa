"""A coordinator process for the crash-survival test (``python -m tests.crash.child MODE DIR``).

``run``: opens the SQLite store in DIR, releases the crash pipeline, submits N executions
(recording each accepted id), completes the awaits of some, and prints ``READY`` once some are
parked, some finished and the slow ones are mid-transition. The test then SIGKILLs it.
``recover``: opens the same DIR, completes every await as it appears, waits for every accepted
execution to end and prints a JSON summary. Both append every commit they make to a log, so the
test can check that no transition was committed twice.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import IO, Any

import msgspec

from tpf.authoring.pipeline import Pipeline
from tpf.config.settings import (
    ExecutionSettings,
    ReleaseSettings,
    RetrySettings,
    Settings,
    StateSettings,
    SweeperSettings,
    WorkerSettings,
)
from tpf.coordinator import Coordinator
from tpf.core.records import ExecutionRecord, ExecutionStatus
from tpf.engine.releases import build_release
from tpf.stores.factory import open_stores

TENANT = "crash"
PIPELINE_ID = "tests.crash"
SLOW_STEP_S = 0.0  # set by main(): the slow executions' first step takes this long in ``run``
TERMINAL = (ExecutionStatus.SUCCEEDED, ExecutionStatus.FAILED, ExecutionStatus.DLQ)


class Job(msgspec.Struct, frozen=True):
    n: int
    slow: bool


class Prepared(msgspec.Struct, frozen=True):
    n: int
    doubled: int


class Answer(msgspec.Struct, frozen=True):
    add: int


class Done(msgspec.Struct, frozen=True):
    n: int
    total: int


pipeline = Pipeline(PIPELINE_ID)


@pipeline.step("prepare")
async def prepare(job: Job) -> Prepared:
    if job.slow and SLOW_STEP_S:
        await asyncio.sleep(SLOW_STEP_S)  # a long step, so the kill lands mid-transition
    return Prepared(n=job.n, doubled=job.n * 2)


pipeline.await_step("answer", step_id="answer", output=Answer, timeout="PT1H")


@pipeline.step("finish")
def finish(answer: Answer) -> Done:
    return Done(n=answer.add, total=answer.add * 10)


def expected_total(n: int) -> int:
    return (n * 2 + 1) * 10


def settings_for(root: Path) -> Settings:
    return Settings(
        state=StateSettings(provider="sqlite", dir=str(root)),
        workers=WorkerSettings(lifecycle_provider="sqlite"),
        releases=ReleaseSettings(registry_provider="file"),
        execution=ExecutionSettings(lease_ms=1_500),
        sweeper=SweeperSettings(interval_ms=1_000),
        retries=RetrySettings(delay_ms=200),
    )


async def open_coordinator(root: Path, commit_log: Any) -> Coordinator:
    coordinator = Coordinator(settings_for(root), await open_stores(settings_for(root)))
    notify = coordinator.engine.committed

    def logged(record: ExecutionRecord) -> None:
        line = {"id": record.execution_id, "v": record.version, "s": record.status.value}
        commit_log.write(json.dumps(line) + "\n")
        commit_log.flush()  # in the kernel before the next commit: a SIGKILL cannot lose it
        notify(record)

    coordinator.engine.committed = logged  # type: ignore[method-assign]
    worker = coordinator.host(pipeline)
    descriptor = build_release(pipeline, root / "build")
    release = await coordinator.register_release(TENANT, PIPELINE_ID, str(descriptor))
    await coordinator.activate_release(TENANT, PIPELINE_ID, release.release_version)
    await coordinator.register_local_worker(TENANT, worker, "crash-worker")
    await coordinator.start()
    return coordinator


async def answer(coordinator: Coordinator, execution_id: str) -> None:
    pending = await coordinator.pending(TENANT, limit=1000)
    for interaction in pending:
        if interaction.execution_id == execution_id:
            n = interaction.request_payload["doubled"]
            await coordinator.complete(
                TENANT, interaction_id=interaction.interaction_id, response={"add": n + 1}
            )


async def run(root: Path, count: int, log: IO[str], accepted: IO[str]) -> None:
    coordinator = await open_coordinator(root, log)
    ids: list[tuple[str, bool]] = []
    for n in range(count):
        slow = n % 3 == 0
        result = await coordinator.submit(
            TENANT, PIPELINE_ID, {"n": n, "slow": slow}, idempotency_key=f"job-{n}"
        )
        accepted.write(f"{result.execution_id} {n}\n")
        accepted.flush()
        ids.append((result.execution_id, slow))
    fast = [eid for eid, slow in ids if not slow]
    for eid in fast:
        await coordinator.wait_for(TENANT, eid, (ExecutionStatus.WAITING_EXTERNAL,), timeout_s=30)
    for eid in fast[: len(fast) // 2]:  # finish half of the parked ones before the crash
        await answer(coordinator, eid)
        await coordinator.wait_for(TENANT, eid, TERMINAL, timeout_s=30)
    print("READY", flush=True)
    await asyncio.Event().wait()  # until killed


async def recover(root: Path, log: IO[str]) -> None:
    accepted = [line.split() for line in (root / "accepted.txt").read_text().splitlines()]
    coordinator = await open_coordinator(root, log)
    summary: dict[str, Any] = {}
    try:
        for eid, n in accepted:
            record = await coordinator.wait_for(
                TENANT, eid, (ExecutionStatus.WAITING_EXTERNAL, *TERMINAL), timeout_s=30
            )
            if record.status is ExecutionStatus.WAITING_EXTERNAL:
                await answer(coordinator, eid)
                record = await coordinator.wait_for(TENANT, eid, TERMINAL, timeout_s=30)
            summary[eid] = {
                "n": int(n),
                "status": record.status.value,
                "total": (record.result_payload or {}).get("total"),
                "pending": len(
                    [
                        p
                        for p in await coordinator.pending(TENANT, limit=1000)
                        if p.execution_id == eid
                    ]
                ),
            }
    finally:
        await coordinator.close()
    print(json.dumps(summary), flush=True)


def main() -> None:
    global SLOW_STEP_S
    mode, root = sys.argv[1], Path(sys.argv[2])
    with open(root / "commits.log", "a") as log:
        if mode == "run":
            SLOW_STEP_S = 60.0
            with open(root / "accepted.txt", "a") as accepted:
                asyncio.run(run(root, int(sys.argv[3]), log, accepted))
        else:
            asyncio.run(recover(root, log))


if __name__ == "__main__":
    main()
