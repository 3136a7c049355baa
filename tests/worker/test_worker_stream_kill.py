"""SIGKILL the ``tpf worker`` that runs an expanded execution's per-item steps, mid-stream.

The coordinator (in this process, on SQLite) requires a remote worker; the test answers every
item as it appears and kills the worker while answers are being applied; a replica registered
before the kill serves the rest. Per-item commands that hit the dead worker fail as transport
failures; the execution retries, its next run continues from the stored items (answered items
are applied again, never asked again), and every item's output is in the aggregate exactly
once.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from pathlib import Path

import pytest

from tests.engine.stream_pipelines import STREAM_ID, bad, good
from tests.ha.cluster import TENANT, free_port
from tests.worker import stream_worker_pipeline as streams
from tests.worker.support import coordinator_edge, next_record, start_worker
from tests.worker.test_worker_process import DONE, metrics, worker_node
from tpf.coordinator import Coordinator
from tpf.errors import TpfError

COUNT = 40
P = "pipeline.orchestrator."


def verdict(n: int) -> dict[str, object]:
    return bad(n) if n % 5 == 0 else good(n)


async def answer_forever(c: Coordinator, eid: str) -> None:
    while True:
        change = c.engine.streams.next_change()
        for task in await c.pending(TENANT, limit=1000):
            if task.execution_id == eid and task.item_index is not None:
                with contextlib.suppress(TpfError):
                    answer = verdict(task.item_index)
                    await c.complete(TENANT, interaction_id=task.interaction_id, response=answer)
        # Until items are dispatched or answered again (the timeout covers a run elsewhere).
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(change.wait(), 1.0)


async def test_a_killed_worker_mid_stream_loses_and_doubles_no_item(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = free_port()
    extra = f"pipeline.max-concurrency=6\n{P}lease-ms=3000\n"
    async with coordinator_edge(
        tmp_path, monkeypatch, "rest", f"http://127.0.0.1:{port}", extra=extra
    ) as edge:
        c = edge.coordinator
        await edge.release(streams.pipeline, tmp_path / "build")
        node = worker_node(tmp_path, "worker", edge.url, streams.REF, port=port)
        replica = worker_node(tmp_path, "replica", edge.url, streams.REF)
        answering: asyncio.Task[None] | None = None
        try:
            await start_worker(node)
            await next_record(edge.registered, node)
            await start_worker(replica)
            await next_record(edge.registered, replica)
            eid = (await c.submit(TENANT, STREAM_ID, {"count": COUNT})).execution_id
            answering = asyncio.ensure_future(answer_forever(c, eid))
            await c.engine.streams.wait_for(TENANT, eid, lambda p: p.done >= COUNT // 4, 30)
            node.kill()  # SIGKILL while items are being applied through it
            final = await c.wait_for(TENANT, eid, DONE, timeout_s=60.0)
            served = await metrics(replica)
        finally:
            if answering is not None:
                answering.cancel()
            node.kill()
            replica.kill()
    assert final.status.value == "SUCCEEDED", (final.error_code, final.error_message, node.log())
    expected = [f"{n}:{'no' if n % 5 == 0 else 'ok'}" for n in range(COUNT)]
    assert final.result_payload == {"outcomes": expected}
    assert final.items is not None and final.items.done == COUNT
    # The replica ran what the dead worker no longer could (the per-item steps and the rest).
    completed = re.search(r'tpf_worker_transitions_total\{outcome="COMPLETED"\} ([0-9.]+)', served)
    assert completed is not None and float(completed.group(1)) >= 1, served
