"""One transition's run: build the command pinned to the execution's release, call its worker.

This is the I/O half of a transition that comes before any commit. It never commits: it turns
a claimed record into a :class:`~tpf.core.records.TransitionResult` (a failure result when no input
can be built, no worker hosts the release or the transport fails), or ``None`` when the lease
was lost meanwhile and the result must be thrown away. What to commit is decided by
:mod:`tpf.actors.commits`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, Protocol, TypeVar

import msgspec

from tpf.actors.context import Engine
from tpf.actors.stream_outputs import output_pages, outputs_list
from tpf.core import crash_points as cp
from tpf.core.errors import Conflict, StoreUnavailable, TpfError
from tpf.core.ids import transition_key
from tpf.core.records import (
    AwaitContextData,
    AwaitInteraction,
    ExecutionRecord,
    InteractionStatus,
    StepContextData,
    TransitionCommand,
    TransitionResult,
)
from tpf.core.streams import StreamPlan
from tpf.transports.workers.directory import no_worker_result
from tpf.transports.workers.local import (
    ItemSink,
    LocalTransitionWorker,
    error_detail,
    failure_result,
)
from tpf.transports.workers.pool import WorkerPool

T = TypeVar("T")
_encode = msgspec.json.Encoder().encode


class LeaseLost(Exception):
    """The transition's lease was taken over; its result must not be committed."""


class LeaseGuard(Protocol):
    """Runs a transition under lease protection (:class:`tpf.supervisors.lease_keeper.LeaseKeeper`).

    A protocol so the actors do not import the supervisors that drive them.
    """

    async def run(
        self,
        record: ExecutionRecord,
        work: Coroutine[Any, Any, T],
        on_lost: Callable[[str, str], Awaitable[None]] | None = None,
    ) -> T:
        """Run ``work`` for the claimed ``record``; raise :class:`LeaseLost` if the lease was
        lost while it ran, after calling ``on_lost(tenant_id, execution_id)`` (the worker's
        ``cancel``)."""
        ...


async def run_transition(
    engine: Engine,
    leases: LeaseGuard,
    claimed: ExecutionRecord,
    resolved: AwaitInteraction | None,
    ran_by: Callable[[str | None], None] = lambda worker_id: None,
    plan: StreamPlan | None = None,
    sink: ItemSink | None = None,
) -> TransitionResult | None:
    """The worker's result for one transition of ``claimed``; ``None`` if the lease was lost.

    ``resolved`` is the interaction this actor just applied, when it did: it saves reading the
    transition's input back from the store. ``ran_by`` is told the id of the registered worker
    a pool sent it to (``None`` for code hosted here), for the history entry. ``plan`` is the
    release's stream, when it has one: a transition stops after its expansion, and one that
    starts at its aggregation gets the items' outputs. Code hosted here hands an expansion's
    items to ``sink`` page by page (:class:`tpf.actors.stream_outputs.ItemWriter`).
    """
    aggregating = plan is not None and claimed.current_step_index == plan.aggregation
    expanding = plan is not None and claimed.current_step_index <= plan.expansion
    try:
        command = await build_command(engine, claimed, resolved, plan)
    except StoreUnavailable:
        raise  # not the input's fault: the lease runs out and a later claim tries again
    except Exception as exc:  # no input can be built: retrying cannot help
        return failure_result(exc, retryable=False)
    identity = (claimed.pipeline_id, claimed.contract_version, claimed.release_version)
    worker = await engine.workers.resolve(claimed.tenant_id, identity)
    if worker is None:
        return no_worker_result(identity)
    if aggregating and isinstance(worker, LocalTransitionWorker):
        work = worker.execute(command, output_pages(engine, claimed))
    elif expanding and isinstance(worker, LocalTransitionWorker) and sink is not None:
        work = worker.execute(command, sink=sink)
    else:
        if aggregating:
            try:
                outputs = await outputs_list(engine, claimed)
            except TpfError as exc:
                return failure_result(exc, retryable=False)
            command = msgspec.structs.replace(command, payload=_encode(outputs).decode())
        work = worker.execute(command)
    metrics = engine.metrics
    metrics.transition_dispatched.labels(worker.protocol).inc()
    started_ms = engine.clock.now_ms()
    result: TransitionResult | None
    with metrics.transition_active.track_inprogress():
        try:
            result = await leases.run(claimed, work, on_lost=worker.cancel)
        except LeaseLost:
            result = None
        except Exception as exc:  # the transport failed, not the step
            metrics.transport_failures.labels(worker.protocol, "unexpected").inc()
            result = failure_result(exc, retryable=True, detail=error_detail(exc))
        finally:
            ran_by(
                worker.ran_by(command.transition_key) if isinstance(worker, WorkerPool) else None
            )
    cp.crash_point(cp.MID_TRANSITION)  # the worker answered; nothing of it is committed
    metrics.transition_finished(worker.protocol, result, engine.clock.now_ms() - started_ms)
    return result


async def build_command(
    engine: Engine,
    record: ExecutionRecord,
    resolved: AwaitInteraction | None,
    plan: StreamPlan | None = None,
) -> TransitionCommand:
    stop = -1
    if plan is not None and record.current_step_index == plan.aggregation:
        # The items' outputs are the input: sent by run_transition, which knows the worker.
        type_id, payload, interaction = None, None, None
    else:
        type_id, payload, interaction = await transition_input(engine, record, resolved)
        if plan is not None and record.current_step_index <= plan.expansion:
            stop = plan.expansion + 1  # the items go to the store before any per-item step
    key = transition_key(record.execution_id, record.current_step_index, record.attempt)
    readers = await engine.step_ids.readers(engine.stores.releases, record)
    return TransitionCommand(
        tenant_id=record.tenant_id,
        execution_id=record.execution_id,
        pipeline_id=record.pipeline_id,
        contract_version=record.contract_version,
        release_version=record.release_version,
        current_step_index=record.current_step_index,
        stop_before_step_index=stop,
        attempt=record.attempt,
        result_shape=record.result_shape,
        execution_version=record.version,
        transition_key=key,
        trace_id=key,
        payload_type_id=type_id,
        payload=_encode(payload).decode(),
        context=step_context(record, interaction, readers),
    )


def step_context(
    record: ExecutionRecord, interaction: AwaitInteraction | None, readers: tuple[int, ...]
) -> StepContextData | None:
    """The context a transition's steps may read; ``None`` (and the original's envelope) when
    no step from here on takes one. It comes from the stored record and interaction, so a
    retry, a re-drive or another coordinator gives the step the same context."""
    if not readers or max(readers) < record.current_step_index:
        return None
    resumed = None
    if (
        interaction is not None
        and interaction.step_index == record.current_step_index - 1
        and interaction.status is InteractionStatus.COMPLETED
    ):
        resumed = AwaitContextData(
            step_index=interaction.step_index,
            interaction_id=interaction.interaction_id,
            request_payload=interaction.request_payload,
            actor=interaction.actor,
            completed_at_epoch_ms=interaction.completed_at_epoch_ms
            or interaction.updated_at_epoch_ms,
        )
    return StepContextData(
        input_type_id=record.input_type_id,
        input_payload=record.input_payload,
        outputs=dict(record.context_payload or {}),
        resumed_await=resumed,
    )


async def transition_input(
    engine: Engine, record: ExecutionRecord, resolved: AwaitInteraction | None
) -> tuple[str | None, Any, AwaitInteraction | None]:
    """The input of the transition's first step, and the interaction it came from.

    Step 0 takes the submitted input. Later steps start only at await boundaries: right after
    an await the input is its interaction's response; at the await step itself (a re-drive
    after a timeout) it is the interaction's request.
    """
    if record.current_step_index == 0:
        return record.input_type_id, record.input_payload, None
    interaction = resolved
    if interaction is None or interaction.interaction_id != record.await_interaction_id:
        interaction = None
        if record.await_interaction_id is not None:
            interaction = await engine.stores.awaits.get(
                record.tenant_id, record.await_interaction_id
            )
    if interaction is not None:
        if (
            interaction.step_index == record.current_step_index - 1
            and interaction.status is InteractionStatus.COMPLETED
        ):
            return interaction.output_type, interaction.response_payload, interaction
        if interaction.step_index == record.current_step_index:
            return None, interaction.request_payload, interaction
    raise Conflict(
        f"execution {record.execution_id} has no input for step {record.current_step_index}"
    )
