"""A stream on a remote (REST) worker: the expansion's items come back in its result, each
item's steps run as their own command (``itemIndex`` set), and the aggregation receives the
outputs as one list in its command, bounded by ``await-aggregate-max-input-items``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec

from tests.engine.stream_pipelines import STREAM_ID, bad, good, stream_pipeline
from tests.transports.workers.remote_support import remote_coordinator
from tests.transports.workers.test_step_context_remote import Recording
from tpf.core.records import ExecutionStatus

TENANT = "tenant-streams"
DONE = (ExecutionStatus.SUCCEEDED, ExecutionStatus.FAILED, ExecutionStatus.DLQ)


async def _answer_all(c: Any, eid: str, count: int) -> None:
    await c.engine.streams.wait_for(TENANT, eid, lambda p: p.in_flight == count, 5.0)
    for task in await c.pending(TENANT, limit=100):
        n = task.item_index
        await c.complete(
            TENANT, interaction_id=task.interaction_id, response=bad(n) if n == 1 else good(n)
        )


async def test_a_stream_runs_on_a_remote_worker(tmp_path: Path) -> None:
    pipeline, seen = stream_pipeline()
    async with remote_coordinator(tmp_path, pipeline, tenant=TENANT) as r:
        recording = Recording(r.transport.handler)
        r.transport.handler = recording
        c = r.coordinator
        eid = (await c.submit(TENANT, STREAM_ID, {"count": 3})).execution_id
        await _answer_all(c, eid, 3)
        done = await c.wait_for(TENANT, eid, DONE, timeout_s=5.0)
    assert done.status is ExecutionStatus.SUCCEEDED, done.error_message
    assert done.result_payload == {"outcomes": ["0:ok", "1:no", "2:ok"]}
    assert seen.aggregated == [[0, 1, 2]]
    commands = recording.commands
    # The expansion stops before the items: its result carries them, one payload each.
    assert (commands[0]["currentStepIndex"], commands[0]["stopBeforeStepIndex"]) == (0, 1)
    assert "itemIndex" not in commands[0]
    assert len(recording.results[0]["outputPayloads"]) == 3  # type: ignore[arg-type]
    per_item = sorted(
        (c["itemIndex"], c["currentStepIndex"], c["stopBeforeStepIndex"]) for c in commands[1:-1]
    )
    assert per_item == [(0, 2, 4), (1, 2, 4), (2, 2, 4)]  # the steps after the await, per item
    aggregate = commands[-1]
    assert aggregate["currentStepIndex"] == 4 and "itemIndex" not in aggregate
    assert msgspec.json.decode(aggregate["payload"]) == [  # type: ignore[arg-type]
        {"n": 0, "ok": True},
        {"n": 1, "ok": False},
        {"n": 2, "ok": True},
    ]


async def test_a_remote_aggregation_over_the_bound_fails_naming_the_key(tmp_path: Path) -> None:
    pipeline, seen = stream_pipeline()
    async with remote_coordinator(
        tmp_path, pipeline, tenant=TENANT, execution__aggregate_max_items=2
    ) as r:
        c = r.coordinator
        eid = (await c.submit(TENANT, STREAM_ID, {"count": 3})).execution_id
        await _answer_all(c, eid, 3)
        done = await c.wait_for(TENANT, eid, DONE, timeout_s=5.0)
    assert done.status in (ExecutionStatus.FAILED, ExecutionStatus.DLQ)
    assert done.error_code == "AGGREGATE_TOO_LARGE"
    assert "await-aggregate-max-input-items" in (done.error_message or "")
    assert seen.aggregated == []
