"""What a scrape reads from the stores before it renders: a bounded number of index reads.

``collect()`` of a prometheus_client Collector is synchronous, so the store reads happen first,
on the event loop, into a :class:`Snapshot`. Every read is a kept count or an index read with a
limit, never a listing of executions, so a scrape costs O(statuses + pipelines):

- executions by status: :meth:`~tpf.stores.base.ExecutionStore.count_by_status` (counts kept
  with every write; DynamoDB: counter items);
- the oldest due execution: the due index with ``limit=1`` (how long the work the queue should
  carry has waited, whatever the transport: the store is the truth, a queue message a hint);
- the earliest pending await deadline: the overdue index with ``limit=1`` and no upper bound;
- per pipeline seen (bounded, :data:`tpf.actors.metrics.MAX_PIPELINES`): its active release
  and its worker lifecycle records, one read each.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from tpf.actors.metrics import MAX_PIPELINES
from tpf.coordinator import Coordinator
from tpf.core.records import ReleaseRecord
from tpf.engine.admission import effective_state

# The overdue index orders pending interactions by deadline; asking for those due before the
# end of time returns the earliest one.
_END_OF_TIME_MS = 2**62

WorkerKey = tuple[str, str, str, str]  # tenant, pipeline, release version, state


@dataclass
class Snapshot:
    now_ms: int = 0
    by_status: dict[str, int] = field(default_factory=dict)
    oldest_due_epoch_ms: int | None = None
    earliest_deadline_epoch_ms: int | None = None
    active_releases: list[ReleaseRecord] = field(default_factory=list)
    workers: Counter[WorkerKey] = field(default_factory=Counter)


def pipelines(coordinator: Coordinator) -> list[tuple[str, str]]:
    """The pipelines the scrape reports on: seen by the engine or hosted here, bounded."""
    seen = dict.fromkeys(coordinator.engine.metrics.pipelines())
    seen.update(dict.fromkeys(sorted(coordinator.hosted.pipelines())))
    return list(seen)[:MAX_PIPELINES]


async def take(coordinator: Coordinator) -> Snapshot:
    stores = coordinator.stores
    now = coordinator.clock.now_ms()
    snap = Snapshot(now_ms=now, by_status=await stores.executions.count_by_status())
    due = await stores.executions.find_due(now, 1)
    if due:
        snap.oldest_due_epoch_ms = due[0].next_due_epoch_ms
    earliest = await stores.awaits.find_overdue(_END_OF_TIME_MS, 1)
    if earliest:
        snap.earliest_deadline_epoch_ms = earliest[0].deadline_epoch_ms
    stale_after_ms = coordinator.settings.workers.stale_after_ms
    for tenant_id, pipeline_id in pipelines(coordinator):
        active = await stores.releases.active(tenant_id, pipeline_id)
        if active is not None:
            snap.active_releases.append(active)
        for worker in await stores.workers.list(tenant_id, pipeline_id):
            state = effective_state(worker, now, stale_after_ms)
            snap.workers[(tenant_id, pipeline_id, worker.release_version, state.value)] += 1
    return snap
