"""The execution actor: one per ``(tenant, executionId)``, it moves its execution through states.

It handles one message at a time, so one process never runs two transitions of the same
execution at once; across processes the lease and the record's ``version`` fence them. Each
state change is computed by :mod:`tpf.lifecycle` and committed with compare-and-set on the
version the actor read or claimed; a lost compare-and-set means another actor (elsewhere) moved
the execution, and this one steps back.

Messages: :class:`Submit` (ask), :class:`Work` (tell: claim and run if due), :class:`Resolve`
(tell: an interaction was completed or timed out), :class:`Redrive` (ask).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, cast

import msgspec

from tpf import events, lifecycle, redrives
from tpf import interactions as inter
from tpf.actors.context import EXECUTION, Engine, no_worker_result
from tpf.actors.runtime import Actor
from tpf.errors import Conflict, NotFound, StoreUnavailable
from tpf.events import log_event
from tpf.ids import transition_key
from tpf.records import (
    AwaitInteraction,
    ExecutionRecord,
    ExecutionStatus,
    InteractionStatus,
    TransitionCommand,
    TransitionOutcome,
    TransitionResult,
    WorkItem,
)
from tpf.supervisors.lease_keeper import LeaseKeeper, LeaseLost
from tpf.transports.local_worker import error_detail, failure_result

LOG = logging.getLogger("tpf.execution")
_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder().decode


class Submit(msgspec.Struct, frozen=True):
    record: ExecutionRecord


class Work(msgspec.Struct, frozen=True):
    pass


class RunClaimed(msgspec.Struct, frozen=True):
    """Run an execution this actor already holds the lease of (created claimed at submit)."""

    record: ExecutionRecord


class Resolve(msgspec.Struct, frozen=True):
    interaction: AwaitInteraction


class Redrive(msgspec.Struct, frozen=True):
    expected_version: int | None
    allow_failed: bool
    reason: str | None
    reopen_await: bool = False  # back to the last await step, on a fresh interaction


WORK = Work()


def _log(level: int, event: str, record: ExecutionRecord, **fields: Any) -> None:
    """One lifecycle line for ``record`` (see :mod:`tpf.events`)."""
    if LOG.isEnabledFor(level):
        ids = (record.tenant_id, record.execution_id, record.current_step_index, record.attempt)
        log_event(LOG, level, event, *ids, **fields)


def _log_failed(record: ExecutionRecord) -> None:
    """A terminal failure; its traceback goes out with the DLQ envelope (and is on the record)."""
    _log(
        logging.ERROR,
        events.FAILED,
        record,
        reason=record.dead_letters[-1].terminal_reason if record.dead_letters else None,
        errorCode=record.error_code,
        errorMessage=record.error_message,
    )


class ExecutionActor(Actor):
    def __init__(self, engine: Engine, leases: LeaseKeeper) -> None:
        self.engine = engine
        self.leases = leases
        # The resolved interaction the next transition starts from, when this actor just applied
        # it: saves reading it back from the store.
        self._resolved: AwaitInteraction | None = None
        # The record as this actor last committed it. A completion usually reaches the actor that
        # parked the execution, which can then skip reading the record back; if another
        # coordinator moved it meanwhile, the version check refuses and the actor reads.
        self._last: ExecutionRecord | None = None
        self._optimistic = False  # a refused commit is expected (stale cache), not a lost lease
        self._refused = False
        self._pending_tells: set[asyncio.Task[None]] = set()

    async def receive(self, message: Any) -> Any:
        if isinstance(message, Work):
            await self._work()
            return None
        if isinstance(message, RunClaimed):
            await self._run(message.record)
            return None
        if isinstance(message, Resolve):
            await self._resolve(message.interaction)
            return None
        if isinstance(message, Submit):
            return await self._submit(message.record)
        if isinstance(message, Redrive):
            return await self._redrive(message)
        raise TypeError(f"unknown execution message {type(message).__name__}")

    # ------------------------------------------------------------------ commands

    async def _submit(self, record: ExecutionRecord) -> tuple[ExecutionRecord, bool]:
        engine = self.engine
        now = engine.clock.now_ms()
        # Created already leased to us, so the first transition needs no separate claim write.
        # If this process dies first, the lease expires and the sweeper finds it.
        claimed = lifecycle.lease(record, engine.owner, now, engine.settings.lease_ms)
        stored, duplicate = await engine.stores.executions.create_or_get(claimed, now)
        if duplicate:
            if stored.input_digest != record.input_digest:
                raise Conflict(
                    f"idempotencyKey {record.execution_key!r} was already used for execution "
                    f"{stored.execution_id} with a different payload",
                    code="IDEMPOTENCY_KEY_REUSED",
                )
            _log(logging.DEBUG, events.SUBMITTED, stored, duplicate=True, status=stored.status)
            return stored, True
        _log(
            logging.DEBUG,
            events.SUBMITTED,
            stored,
            duplicate=False,
            pipeline=stored.pipeline_id,
            release=stored.release_version,
        )
        engine.counters["submitted"] += 1
        engine.committed(stored)
        self._tell_self(RunClaimed(stored))
        return stored, False

    async def _redrive(self, message: Redrive) -> ExecutionRecord:
        engine = self.engine
        tenant_id, execution_id = cast(tuple[str, str], self.key)
        now = engine.clock.now_ms()
        record = await engine.stores.executions.get(tenant_id, execution_id, now)
        if record is None:
            raise NotFound(f"Execution not found: {execution_id}")
        if message.reopen_await:
            last = None
            if record.await_interaction_id is not None:
                last = await engine.stores.awaits.get(tenant_id, record.await_interaction_id)
            queued = redrives.reopen_await(
                record,
                now,
                last,
                expected_version=message.expected_version,
                reason=message.reason,
            )
        else:
            queued = redrives.redrive(
                record,
                now,
                expected_version=message.expected_version,
                allow_failed=message.allow_failed,
                reason=message.reason,
            )
        committed = await engine.stores.executions.compare_and_set(queued, record.version)
        if committed is None:
            raise Conflict(f"Execution {execution_id} changed before re-drive could be admitted")
        entry = committed.redrives[-1]
        _log(
            logging.INFO,
            events.REDRIVEN,
            committed,
            fromStatus=record.status,
            fromVersion=record.version,
            version=committed.version,
            reason=entry.reason,
            reopenedInteractionId=entry.reopened_interaction_id,
        )
        engine.counters["redriven"] += 1
        engine.committed(committed)
        await self._continue(committed)
        return committed

    def _tell_self(self, message: Any) -> None:
        """Queue ``message`` behind the current one (an actor cannot wait on its own mailbox)."""
        if self.system.try_tell(EXECUTION, self.key, message):
            return
        task = asyncio.ensure_future(self.system.tell(EXECUTION, self.key, message))
        self._pending_tells.add(task)
        task.add_done_callback(self._pending_tells.discard)

    async def _continue(self, record: ExecutionRecord) -> None:
        """Run the execution next (it is due now), without a round trip through the queue."""
        if not self.system.try_tell(EXECUTION, self.key, WORK):
            await self.engine.queue.enqueue(
                WorkItem(tenant_id=record.tenant_id, execution_id=record.execution_id)
            )

    # ------------------------------------------------------------------ work

    async def _work(self) -> None:
        engine = self.engine
        tenant_id, execution_id = cast(tuple[str, str], self.key)
        async with engine.in_flight:
            claimed = await engine.stores.executions.claim_lease(
                tenant_id,
                execution_id,
                engine.owner,
                engine.clock.now_ms(),
                engine.settings.lease_ms,
            )
            while claimed is not None:
                claimed = await self._transition(claimed)

    async def _run(self, claimed: ExecutionRecord | None) -> None:
        async with self.engine.in_flight:
            while claimed is not None:
                claimed = await self._transition(claimed)

    async def _transition(self, claimed: ExecutionRecord) -> ExecutionRecord | None:
        """Run one transition of a claimed execution and commit its outcome.

        Returns a newly claimed record when the execution can go on at once (its await was
        already completed), else ``None``.
        """
        engine = self.engine
        engine.counters["transitions"] += 1
        try:
            command = await self._command(claimed)
        except StoreUnavailable:
            raise  # not the input's fault: the lease runs out and a later claim tries again
        except Exception as exc:  # no input can be built: retrying cannot help
            result = failure_result(exc, retryable=False)
        else:
            identity = (claimed.pipeline_id, claimed.contract_version, claimed.release_version)
            worker = engine.router.get(identity)
            if worker is None:
                result = no_worker_result(identity)
            else:
                try:
                    result = await self.leases.run(claimed, worker.execute(command))
                except LeaseLost:
                    return None
                except Exception as exc:  # the transport failed, not the step
                    result = failure_result(exc, retryable=True, detail=error_detail(exc))
        if result.outcome is TransitionOutcome.COMPLETED:
            await self._succeed(claimed, result)
            return None
        if result.outcome is TransitionOutcome.WAITING_EXTERNAL:
            return await self._park(claimed, result)
        await self._fail(claimed, result)
        return None

    async def _command(self, record: ExecutionRecord) -> TransitionCommand:
        type_id, payload = await self._input(record)
        key = transition_key(record.execution_id, record.current_step_index, record.attempt)
        return TransitionCommand(
            tenant_id=record.tenant_id,
            execution_id=record.execution_id,
            pipeline_id=record.pipeline_id,
            contract_version=record.contract_version,
            release_version=record.release_version,
            current_step_index=record.current_step_index,
            attempt=record.attempt,
            result_shape=record.result_shape,
            execution_version=record.version,
            transition_key=key,
            trace_id=key,
            payload_type_id=type_id,
            payload=_encode(payload).decode(),
        )

    async def _input(self, record: ExecutionRecord) -> tuple[str | None, Any]:
        """The input of the transition's first step.

        Step 0 takes the submitted input. Later steps start only at await boundaries: right after
        an await the input is its interaction's response; at the await step itself (a re-drive
        after a timeout) it is the interaction's request.
        """
        if record.current_step_index == 0:
            return record.input_type_id, record.input_payload
        interaction, self._resolved = self._resolved, None
        if interaction is None or interaction.interaction_id != record.await_interaction_id:
            interaction = None
            if record.await_interaction_id is not None:
                interaction = await self.engine.stores.awaits.get(
                    record.tenant_id, record.await_interaction_id
                )
        if interaction is not None:
            if (
                interaction.step_index == record.current_step_index - 1
                and interaction.status is InteractionStatus.COMPLETED
            ):
                return interaction.output_type, interaction.response_payload
            if interaction.step_index == record.current_step_index:
                return None, interaction.request_payload
        raise Conflict(
            f"execution {record.execution_id} has no input for step {record.current_step_index}"
        )

    async def _commit(
        self, record: ExecutionRecord, expected_version: int
    ) -> ExecutionRecord | None:
        engine = self.engine
        # Retention starts here when this commit makes the execution terminal (and never while
        # it is live: a parked execution is kept however long it waits).
        record = lifecycle.retain(record, engine.settings.execution_ttl_ms)
        committed = await engine.stores.executions.compare_and_set(record, expected_version)
        if committed is None:
            self._last = None
            self._refused = True
            if self._optimistic:
                return None
            # Someone re-claimed the execution (our lease expired): our result is discarded and
            # theirs will be committed instead. This is the fence against double commits.
            engine.counters["commits_refused"] += 1
            LOG.warning(
                "commit refused for execution %s/%s at version %d: it changed meanwhile (our "
                "lease was taken over, or another coordinator applied the same resolution)",
                record.tenant_id,
                record.execution_id,
                expected_version,
            )
            return None
        self._last = committed
        engine.committed(committed)
        return committed

    async def _succeed(self, claimed: ExecutionRecord, result: TransitionResult) -> None:
        engine = self.engine
        outputs = result.output_payloads
        type_id = outputs[0].payload_type_id if outputs else None
        value = _decode(outputs[0].payload) if outputs else None
        done = lifecycle.mark_succeeded(claimed, engine.clock.now_ms(), type_id, value)
        committed = await self._commit(done, claimed.version)
        if committed is not None:
            engine.counters["succeeded"] += 1
            _log(logging.DEBUG, events.SUCCEEDED, committed, resultType=committed.result_type_id)

    async def _fail(self, claimed: ExecutionRecord, result: TransitionResult) -> None:
        engine = self.engine
        failure = result.failure
        code = (failure.error_code if failure else None) or (
            failure.failure_class.rsplit(".", 1)[-1] if failure else "TransitionWorkerFailure"
        )
        decided = lifecycle.decide_failure(
            claimed,
            engine.clock.now_ms(),
            engine.retry_policy,
            error_code=code,
            error_message=failure.message if failure else "transition failed without a reason",
            retryable=failure.retryable if failure else True,
            rand=engine.rand(),
            error_detail=failure.error_detail if failure else None,
        )
        committed = await self._commit(decided, claimed.version)
        if committed is None:
            return
        if committed.status is ExecutionStatus.WAIT_RETRY:
            engine.counters["retries_scheduled"] += 1
            delay = committed.next_due_epoch_ms - committed.updated_at_epoch_ms
            # The failed attempt's numbers (the record already counts the next one).
            _log(
                logging.WARNING,
                events.RETRY,
                claimed,
                delayMs=delay,
                nextAttempt=committed.attempt,
                errorCode=committed.error_code,
                errorMessage=committed.error_message,
            )
            await engine.queue.enqueue(
                WorkItem(tenant_id=committed.tenant_id, execution_id=committed.execution_id),
                delay,
            )
        else:
            engine.counters["failed"] += 1
            _log_failed(committed)
            engine.dead_letter_committed(committed.dead_letters[-1])

    # ------------------------------------------------------------------ awaits

    async def _park(
        self, claimed: ExecutionRecord, result: TransitionResult
    ) -> ExecutionRecord | None:
        engine = self.engine
        suspension = result.await_suspension
        if suspension is None or not suspension.interactions:
            await self._fail(
                claimed, failure_result(ValueError("empty await suspension"), retryable=False)
            )
            return None
        # The interaction is stored before the execution points at it, so a parked execution
        # always has its interaction. Ids are derived, so a re-run finds the same one.
        stored, _ = await engine.stores.awaits.create_or_get(suspension.interactions[0])
        if not stored.pending:
            # Already resolved (a re-run after a crash, or a very early completion): go on
            # without parking.
            return await self._apply(claimed, stored, parked=False)
        parked = await self._commit(
            lifecycle.mark_waiting(claimed, engine.clock.now_ms(), stored), claimed.version
        )
        if parked is None:
            return None
        engine.counters["parked"] += 1
        _log(
            logging.DEBUG,
            events.PARKED,
            parked,
            stepId=stored.step_id,
            interactionId=stored.interaction_id,
            deadlineEpochMs=stored.deadline_epoch_ms,
        )
        # A completion admitted between the create and the park saw a RUNNING execution and
        # left the resume to us: look again now that the park is committed.
        current = await engine.stores.awaits.get(stored.tenant_id, stored.interaction_id)
        if current is not None and not current.pending:
            return await self._apply(parked, current, parked=True)
        return None

    async def _resolve(self, interaction: AwaitInteraction) -> None:
        engine = self.engine
        cached = self._last
        if cached is not None and lifecycle.is_parked_on(cached, interaction):
            self._optimistic, self._refused = True, False
            try:
                claimed = await self._apply(cached, interaction, parked=True)
            finally:
                self._optimistic = False
            if not self._refused:
                await self._run(claimed)
                return
            engine.counters["record_cache_misses"] += 1
        now = engine.clock.now_ms()
        record = await engine.stores.executions.get(
            interaction.tenant_id, interaction.execution_id, now
        )
        if record is not None and lifecycle.is_parked_on(record, interaction):
            await self._run(await self._apply(record, interaction, parked=True))
            return
        if record is not None and record.status is ExecutionStatus.RUNNING:
            # A transition (maybe in another process) may be about to park on this interaction;
            # its post-park check applies the resolution. Leave ``applied`` false so the awaits
            # supervisor asks again if that transition dies first.
            return
        await self._mark_applied(interaction)

    async def _apply(
        self, record: ExecutionRecord, interaction: AwaitInteraction, *, parked: bool
    ) -> ExecutionRecord | None:
        """Apply a resolved interaction to its execution; returns a claimed record to run next.

        ``parked`` says whether ``record`` is parked on the interaction (else it is the claimed,
        running record that was about to park).
        """
        engine = self.engine
        now = engine.clock.now_ms()
        if interaction.status is InteractionStatus.COMPLETED:
            if parked:
                queued = lifecycle.resume_after_await(record, now, interaction)
            else:
                queued = lifecycle.resume_without_parking(record, now, interaction)
            # Queue and claim in one write: the next transition runs here and now.
            running = lifecycle.lease(queued, engine.owner, now, engine.settings.lease_ms)
            committed = await self._commit(running, record.version)
            if committed is None:
                return None
            engine.counters["resumed"] += 1
            _log(
                logging.DEBUG,
                events.RESUMED,
                committed,
                interactionId=interaction.interaction_id,
                actor=interaction.actor,
            )
            await self._mark_applied(interaction)
            self._resolved = interaction
            return committed
        failed = lifecycle.fail_await_timeout(record, now, interaction)
        if interaction.status is not InteractionStatus.TIMED_OUT:
            failed = msgspec.structs.replace(
                failed,
                error_code=f"AWAIT_{interaction.status.value}",
                error_message=f"Await interaction {interaction.status.value.lower()}: "
                f"{interaction.interaction_id}",
            )
        committed = await self._commit(failed, record.version)
        if committed is not None:
            engine.counters["failed"] += 1
            engine.counters["await_timeouts"] += 1
            _log_failed(committed)
            engine.dead_letter_committed(committed.dead_letters[-1])
            await self._mark_applied(interaction)
        return None

    async def _mark_applied(self, interaction: AwaitInteraction) -> None:
        engine = self.engine
        awaits = engine.stores.awaits
        current: AwaitInteraction | None = interaction  # usually current: try it before reading
        while current is not None and not current.applied and not current.pending:
            done = await awaits.compare_and_set(
                inter.mark_applied(current, engine.clock.now_ms()), current.version
            )
            if done is not None:
                return
            current = await awaits.get(interaction.tenant_id, interaction.interaction_id)
