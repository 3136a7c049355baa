"""A coordinator process for the stream SIGKILL test (``python -m tests.crash.stream_child``).

``run DIR N``: opens the SQLite store in DIR, releases the stream pipeline of the engine tests
(window 8), submits one execution of N items (its id in ``accepted.txt``), and answers the items
as they appear, without stopping: it prints ``READY`` once a third are done and goes on
answering, so the SIGKILL lands anywhere in the dispatch/apply cycle. ``recover DIR``: opens the
same DIR, takes over the dead coordinator's lease, answers every item as it appears (again: an
answer may be given twice, the second is a duplicate) and prints the final record as JSON.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
from pathlib import Path

from tests.engine.stream_pipelines import STREAM_ID, bad, good, stream_pipeline
from tpf.config.settings import (
    ExecutionSettings,
    ReleaseSettings,
    Settings,
    StateSettings,
    SweeperSettings,
    WorkerSettings,
)
from tpf.coordinator import Coordinator
from tpf.core.records import ExecutionStatus
from tpf.engine.releases import build_release
from tpf.errors import TpfError
from tpf.stores.factory import open_stores

TENANT = "crash"
TERMINAL = (ExecutionStatus.SUCCEEDED, ExecutionStatus.FAILED, ExecutionStatus.DLQ)
pipeline, _ = stream_pipeline()


def verdict(n: int) -> dict[str, object]:
    return bad(n) if n % 4 == 0 else good(n)


def settings_for(root: Path) -> Settings:
    return Settings(
        state=StateSettings(provider="sqlite", dir=str(root)),
        workers=WorkerSettings(lifecycle_provider="sqlite"),
        releases=ReleaseSettings(registry_provider="file"),
        execution=ExecutionSettings(lease_ms=1_500, max_concurrency=8),
        sweeper=SweeperSettings(interval_ms=1_000),
    )


async def open_coordinator(root: Path) -> Coordinator:
    coordinator = Coordinator(settings_for(root), await open_stores(settings_for(root)))
    worker = coordinator.host(pipeline)
    descriptor = build_release(pipeline, root / "build")
    release = await coordinator.register_release(TENANT, STREAM_ID, str(descriptor))
    await coordinator.activate_release(TENANT, STREAM_ID, release.release_version)
    await coordinator.register_local_worker(TENANT, worker, "stream-worker")
    await coordinator.start()
    return coordinator


async def answer_forever(coordinator: Coordinator, execution_id: str) -> None:
    """Answer every open item of the execution, over and over (until cancelled)."""
    while True:
        change = coordinator.engine.streams.next_change()
        for task in await coordinator.pending(TENANT, limit=1000):
            if task.execution_id == execution_id and task.item_index is not None:
                with contextlib.suppress(TpfError):  # closed meanwhile: nothing to answer
                    await coordinator.complete(
                        TENANT,
                        interaction_id=task.interaction_id,
                        response=verdict(task.request_payload["n"]),
                    )
        # Until items are dispatched or answered again (the timeout covers a run elsewhere).
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(change.wait(), 1.0)


async def run(root: Path, count: int) -> None:
    coordinator = await open_coordinator(root)
    submitted = await coordinator.submit(TENANT, STREAM_ID, {"count": count, "tag": "k"})
    (root / "accepted.txt").write_text(submitted.execution_id)
    answering = asyncio.ensure_future(answer_forever(coordinator, submitted.execution_id))
    await coordinator.engine.streams.wait_for(
        TENANT, submitted.execution_id, lambda p: p.done >= count // 3, 60
    )
    print("READY", flush=True)
    await answering  # until killed


async def recover(root: Path) -> None:
    eid = (root / "accepted.txt").read_text().strip()
    coordinator = await open_coordinator(root)
    answering = asyncio.ensure_future(answer_forever(coordinator, eid))
    try:
        await coordinator.reclaim_leases()
        record = await coordinator.wait_for(TENANT, eid, TERMINAL, timeout_s=60)
    finally:
        answering.cancel()
        await coordinator.close()
    print(
        json.dumps(
            {
                "status": record.status.value,
                "error": record.error_message,
                "result": record.result_payload,
                "items": None if record.items is None else record.items.total,
            }
        ),
        flush=True,
    )


def main() -> None:
    mode, root = sys.argv[1], Path(sys.argv[2])
    if mode == "run":
        asyncio.run(run(root, int(sys.argv[3])))
    else:
        asyncio.run(recover(root))


if __name__ == "__main__":
    main()
