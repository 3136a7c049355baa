"""The commits at a stream's boundaries, and the aggregation's input (issue 13).

An expanded execution crosses two boundaries, each one compare-and-set of its record that keeps
it RUNNING under a fresh lease (:func:`tpf.core.lifecycle.advance_stream`), so the next phase
runs at once here, or after a crash wherever the sweeper's claim lands:

1. **expanded**: the expansion's items are in the item store (written in pages, before the
   commit, so a committed expansion always has all its items; a crash before it re-runs the
   expansion, whose re-written items keep the progress already stored), and the execution
   points at its first per-item step with ``items.total`` set;
2. **items done**: every item is final; the execution points at its aggregation with the
   final counts, or, when the pipeline has none, succeeds with the items' outputs as its
   ``MATERIALIZED_MULTI`` result.
"""

from __future__ import annotations

import logging

import msgspec

from tpf.actors.commits import ExecutionCommits
from tpf.actors.context import Engine
from tpf.actors.stream_items import ItemFailed, ItemSteps
from tpf.actors.stream_outputs import PAGE, ItemWriter, outputs_list
from tpf.actors.streams import StreamRun
from tpf.actors.transition import LeaseGuard, LeaseLost
from tpf.core import contexts, lifecycle
from tpf.core import crash_points as cp
from tpf.core.errors import TpfError
from tpf.core.items import ItemProgress
from tpf.core.records import (
    ExecutionRecord,
    PayloadEnvelope,
    TransitionOutcome,
    TransitionResult,
)
from tpf.core.streams import StreamPlan
from tpf.transports.workers.directory import no_worker_result
from tpf.transports.workers.local import failure_result

LOG = logging.getLogger("tpf.streams")
_decode = msgspec.json.Decoder().decode
_encode = msgspec.json.Encoder().encode
MULTI_TYPE = "java.util.List"


async def expanded(
    commits: ExecutionCommits,
    plan: StreamPlan,
    claimed: ExecutionRecord,
    result: TransitionResult,
    written: int = 0,
) -> ExecutionRecord | None:
    """Store the expansion's items (those the result carries: ``written`` were stored
    already, by code hosted here) and commit the execution into its items phase."""
    engine = commits.engine
    payloads = result.output_payloads
    if payloads:  # a remote expansion's items, in its result
        writer = ItemWriter(engine, claimed)
        for start in range(0, len(payloads), PAGE):
            await writer([_decode(e.payload) for e in payloads[start : start + PAGE]])
    total = written or len(payloads)
    settings = engine.settings.execution
    try:  # outputs of the steps before the expansion that a later ctx reads (the aggregation's)
        with_context = contexts.with_outputs(
            claimed, result.context_outputs, settings.context_max_bytes
        )
    except contexts.ContextTooLarge as exc:
        await commits.fail(claimed, failure_result(exc, retryable=False))
        return None
    moved = lifecycle.advance_stream(
        with_context,
        engine.clock.now_ms(),
        plan.first_item_step,
        ItemProgress(total=total),
        engine.owner,
        settings.lease_ms,
    )
    moved = await commits.noted(
        claimed, moved, "EXPANDED", claimed=claimed, item_counts={"total": total}
    )
    engine.counters["items_expanded"] += total
    return _phase_committed(commits.fence(await commits.commit(moved, claimed.version)))


async def run_items(
    commits: ExecutionCommits, leases: LeaseGuard, plan: StreamPlan, claimed: ExecutionRecord
) -> ExecutionRecord | None:
    """Run the items phase to its end; the claimed record to run next (the aggregation)."""
    engine = commits.engine
    if claimed.items is None and plan.multi_input:  # the submitted array is the items
        values = claimed.input_payload if isinstance(claimed.input_payload, list) else []
        writer = ItemWriter(engine, claimed)
        for start in range(0, len(values), PAGE):
            await writer(values[start : start + PAGE])
        done = TransitionResult(outcome=TransitionOutcome.COMPLETED)
        moved = await expanded(commits, plan, claimed, done, writer.count)
        if moved is None:
            return None
        claimed = moved
    identity = (claimed.pipeline_id, claimed.contract_version, claimed.release_version)
    worker = await engine.workers.resolve(claimed.tenant_id, identity)
    if worker is None:
        await commits.fail(claimed, no_worker_result(identity))
        return None
    run = StreamRun(engine, plan, claimed, ItemSteps(engine, plan, claimed, worker))
    try:
        progress = await leases.run(claimed, run.run(), on_lost=worker.cancel)
    except LeaseLost:
        return None
    except ItemFailed as exc:
        error = TpfError(str(exc), code=exc.code)
        await commits.fail(claimed, failure_result(error, retryable=exc.retryable))
        return None
    counts = {"total": progress.total, "done": progress.done, **progress.branches}
    if plan.aggregation >= plan.step_count:  # no aggregation: the outputs are the result
        await _materialized(commits, claimed, progress)
        return None
    moved = lifecycle.advance_stream(
        claimed,
        engine.clock.now_ms(),
        plan.aggregation,
        progress,
        engine.owner,
        engine.settings.execution.lease_ms,
    )
    moved = await commits.noted(claimed, moved, "ITEMS_DONE", claimed=claimed, item_counts=counts)
    return _phase_committed(commits.fence(await commits.commit(moved, claimed.version)))


async def _materialized(
    commits: ExecutionCommits,
    claimed: ExecutionRecord,
    progress: ItemProgress,
) -> None:
    engine = commits.engine
    try:
        outputs = await outputs_list(engine, claimed)
    except TpfError as exc:
        await commits.fail(claimed, failure_result(exc, retryable=False))
        return
    shaped = msgspec.structs.replace(claimed, result_shape="MATERIALIZED_MULTI", items=progress)
    envelope = PayloadEnvelope(payload_type_id=MULTI_TYPE, payload=_encode(outputs).decode())
    done = await commits.succeed(
        shaped, TransitionResult(outcome=TransitionOutcome.COMPLETED, output_payloads=(envelope,))
    )
    if done is not None:
        await forget_items(engine, done)


async def forget_items(engine: Engine, record: ExecutionRecord) -> None:
    """Delete a succeeded execution's items: its result holds what they became, and nothing
    re-runs them (a failed one keeps them for its re-drive). A crash before this leaves them
    behind: SQLite deletes them with the expired execution; on DynamoDB they stay (see the
    README's retention note)."""
    try:
        deleted = await engine.stores.items.delete_for_execution(
            record.tenant_id, record.execution_id
        )
    except Exception:  # the execution succeeded either way; the items are only garbage now
        LOG.warning("could not delete the items of %s", record.execution_id, exc_info=True)
        return
    engine.counters["items_deleted"] += deleted


def _phase_committed(committed: ExecutionRecord | None) -> ExecutionRecord | None:
    if committed is not None:
        cp.crash_point(cp.PHASE_COMMIT)
    return committed
