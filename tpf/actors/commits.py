"""The commits of one execution: each state change a compare-and-set on the version it read.

:meth:`ExecutionCommits.commit` answers the committed record or :class:`Refused`, and never
decides what a refusal means; its caller does:

- after a transition it ran under its lease, a refusal is the fence against double commits
  (another coordinator re-claimed the execution once our lease expired, or applied the same
  resolution): :meth:`ExecutionCommits.fence` counts it, logs it and drops the result;
- when the actor applied a resolution to the record it last committed (its cache, see
  :class:`tpf.actors.execution.ExecutionActor`), a refusal only says the cache was stale: the
  actor reads the record and applies again.

The outcome commits (succeed, fail, park, apply a resolution) live here too, each computed by
:mod:`tpf.core.lifecycle` and committed through :meth:`ExecutionCommits.commit`.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any, TypeVar

import msgspec

from tpf.actors import applied_writes, journal
from tpf.actors import joint_commits as joint
from tpf.actors.applied_writes import beside, quietly
from tpf.actors.context import Engine
from tpf.core import contexts, events, lifecycle
from tpf.core import crash_points as cp
from tpf.core.events import log_event
from tpf.core.records import (
    AwaitInteraction,
    ExecutionRecord,
    ExecutionStatus,
    InteractionStatus,
    TransitionResult,
    WorkItem,
)
from tpf.transports.workers.local import failure_result

LOG = logging.getLogger("tpf.execution")
T = TypeVar("T")
_decode = msgspec.json.Decoder().decode


@dataclass(frozen=True, slots=True)
class Refused:
    """A commit the store refused: the record changed after ``expected_version``."""

    record: ExecutionRecord  # what this actor tried to commit
    expected_version: int


def log_lifecycle(level: int, event: str, record: ExecutionRecord, **fields: Any) -> None:
    """One lifecycle line for ``record`` (see :mod:`tpf.core.events`)."""
    if LOG.isEnabledFor(level):
        ids = (record.tenant_id, record.execution_id, record.current_step_index, record.attempt)
        log_event(LOG, level, event, *ids, **fields)


def log_failed(record: ExecutionRecord) -> None:
    """A terminal failure; its traceback goes out with the DLQ envelope (and is on the record)."""
    log_lifecycle(
        logging.ERROR,
        events.FAILED,
        record,
        reason=record.dead_letters[-1].terminal_reason if record.dead_letters else None,
        errorCode=record.error_code,
        errorMessage=record.error_message,
    )


class ExecutionCommits:
    """Commits one execution's state changes, remembering what it committed last."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        # The record as last committed here. A completion usually reaches the actor that
        # parked the execution, which can then skip reading the record back; if another
        # coordinator moved it meanwhile, the version check refuses and the actor reads.
        self.last: ExecutionRecord | None = None
        # The resolved interaction the next transition starts from, when this actor just
        # applied it: saves reading it back from the store.
        self.resolved: AwaitInteraction | None = None
        # The registered worker the running transition was sent to, for the entry ending it.
        self.worker_id: str | None = None
        # The resolved interaction's "applied" write, running beside the transition it resumed
        # (see :meth:`apply`); awaited before this execution's next commit.
        self._applying: asyncio.Task[None] | None = None

    def ran_by(self, worker_id: str | None) -> None:
        self.worker_id = worker_id

    async def commit(
        self, record: ExecutionRecord, expected_version: int
    ) -> ExecutionRecord | Refused:
        engine = self.engine
        # Retention starts here when this commit makes the execution terminal (and never while
        # it is live: a parked execution is kept however long it waits).
        record = lifecycle.retain(record, engine.settings.execution.ttl_ms)
        writing = engine.stores.executions.compare_and_set(record, expected_version)
        applying, self._applying = self._applying, None
        if applying is None:
            committed = await writing
        else:
            # Together with the resumed interaction's "applied" write (on SQLite: queued after
            # it, so in the same group commit or a later one); answered once both are done.
            committed = await beside(writing, applying)
        if committed is None:
            self.last = None
            return Refused(record, expected_version)
        self.last = committed
        engine.committed(committed)
        return committed

    async def noted(
        self,
        before: ExecutionRecord | None,
        after: ExecutionRecord,
        kind: str,
        *,
        claimed: ExecutionRecord | None = None,
        **fields: Any,
    ) -> ExecutionRecord:
        """``after`` carrying its history entry (see :mod:`tpf.actors.journal`)."""
        engine = self.engine
        if claimed is not None and self.worker_id is not None:
            fields.setdefault("worker_id", self.worker_id)
            self.worker_id = None  # one transition's: the next one says its own
        step_ids = await engine.step_ids.of(engine.stores.releases, after)
        return journal.noted(
            before, after, kind, step_ids, coordinator_id=engine.owner, claimed=claimed, **fields
        )

    def fence(self, outcome: T | Refused) -> T | None:
        """``outcome``, or ``None`` for a commit refused after our own transition.

        Someone re-claimed the execution (our lease expired): our result is discarded and theirs
        will be committed instead. This is the fence against double commits.
        """
        if not isinstance(outcome, Refused):
            return outcome
        self.engine.counters["commits_refused"] += 1
        LOG.warning(
            "commit refused for execution %s/%s at version %d: it changed meanwhile (our "
            "lease was taken over, or another coordinator applied the same resolution)",
            outcome.record.tenant_id,
            outcome.record.execution_id,
            outcome.expected_version,
        )
        return None

    async def succeed(
        self, claimed: ExecutionRecord, result: TransitionResult
    ) -> ExecutionRecord | None:
        engine = self.engine
        outputs = result.output_payloads
        type_id = outputs[0].payload_type_id if outputs else None
        value = _decode(outputs[0].payload) if outputs else None
        done = lifecycle.mark_succeeded(claimed, engine.clock.now_ms(), type_id, value)
        done = await self.noted(claimed, done, "SUCCEEDED", claimed=claimed)
        committed = self.fence(await self.commit(done, claimed.version))
        if committed is not None:
            cp.crash_point(cp.SUCCESS_COMMIT)
            engine.counters["succeeded"] += 1
            log_lifecycle(
                logging.DEBUG, events.SUCCEEDED, committed, resultType=committed.result_type_id
            )
        return committed

    async def fail(self, claimed: ExecutionRecord, result: TransitionResult) -> None:
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
        retrying = decided.status is ExecutionStatus.WAIT_RETRY
        decided = await self.noted(
            claimed,
            decided,
            "RETRY_SCHEDULED" if retrying else "FAILED",
            claimed=claimed,
            error_code=decided.error_code,
            error_message=decided.error_message,
        )
        committed = self.fence(await self.commit(decided, claimed.version))
        if committed is None:
            return
        cp.crash_point(cp.FAILURE_COMMIT)  # before the retry's enqueue or the DLQ publish
        if committed.status is ExecutionStatus.WAIT_RETRY:
            engine.counters["retries_scheduled"] += 1
            delay = committed.next_due_epoch_ms - committed.updated_at_epoch_ms
            # The failed attempt's numbers (the record already counts the next one).
            log_lifecycle(
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
            engine.metrics.execution_failed(committed)
            log_failed(committed)
            engine.dead_letter_committed(committed.dead_letters[-1])

    async def park(
        self, claimed: ExecutionRecord, result: TransitionResult
    ) -> ExecutionRecord | None:
        """Park on the result's interaction; a claimed record to run next if it was already
        resolved."""
        engine = self.engine
        suspension = result.await_suspension
        if suspension is None or not suspension.interactions:
            await self.fail(
                claimed, failure_result(ValueError("empty await suspension"), retryable=False)
            )
            return None
        try:  # the outputs a later transition's ctx reads commit with the park (issue 13)
            claimed = contexts.with_outputs(
                claimed, result.context_outputs, engine.settings.execution.context_max_bytes
            )
        except contexts.ContextTooLarge as exc:
            await self.fail(claimed, failure_result(exc, retryable=False))
            return None
        # The interaction is stored before the execution points at it, so a parked execution
        # always has its interaction. Ids are derived, so a re-run finds the same one.
        # The coordinator decides the channel (an operator may override the authored one); a
        # channel that publishes gets the interaction in the dispatch outbox (CREATED).
        interaction = engine.route_interaction(suspension.interactions[0])
        if await joint.park(self, claimed, interaction):  # in one write where the store can
            return None
        stored, _ = await engine.stores.awaits.create_or_get(interaction)
        cp.crash_point(cp.INTERACTION_WRITE)  # stored, not yet dispatched nor parked on
        if stored.undispatched:
            engine.interaction_stored(stored)  # published now; the outbox sweep if we die first
        if not stored.pending:
            # Already resolved (a re-run after a crash, or a very early completion): go on
            # without parking.
            return self.fence(await self.apply(claimed, stored, parked=False))
        waiting = await self.noted(
            claimed,
            lifecycle.mark_waiting(claimed, engine.clock.now_ms(), stored),
            "PARKED",
            claimed=claimed,
            interaction_id=stored.interaction_id,
        )
        parked = self.fence(await self.commit(waiting, claimed.version))
        if parked is None:
            return None
        cp.crash_point(cp.PARK_COMMIT)
        self.parked(parked, stored)
        # A completion admitted between the create and the park saw a RUNNING execution and
        # left the resume to us: look again now that the park is committed.
        current = await engine.stores.awaits.get(stored.tenant_id, stored.interaction_id)
        if current is not None and not current.pending:
            return self.fence(await self.apply(parked, current, parked=True))
        return None

    def parked(self, parked: ExecutionRecord, stored: AwaitInteraction) -> None:
        self.engine.counters["parked"] += 1
        log_lifecycle(
            logging.DEBUG,
            events.PARKED,
            parked,
            stepId=stored.step_id,
            interactionId=stored.interaction_id,
            deadlineEpochMs=stored.deadline_epoch_ms,
        )

    async def apply(
        self, record: ExecutionRecord, interaction: AwaitInteraction, *, parked: bool
    ) -> ExecutionRecord | Refused | None:
        """Apply a resolved interaction to its execution.

        Answers the claimed record to run next (completed), ``None`` (the execution failed on
        a timed-out or closed interaction) or :class:`Refused` (``record`` was not current).
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
            running = lifecycle.lease(queued, engine.owner, now, engine.settings.execution.lease_ms)
            # Resumed without parking: this ends the transition that reached the await.
            running = await self.noted(
                record,
                running,
                "RESUMED",
                claimed=None if parked else record,
                interaction_id=interaction.interaction_id,
                completed_by=interaction.actor,
                idempotency_key=interaction.idempotency_key,
            )
            committed, applied = await joint.resume(self, running, record.version, interaction)
            if isinstance(committed, Refused):
                return committed
            cp.crash_point(cp.RESUME_COMMIT)  # resumed, the interaction not marked applied
            engine.counters["resumed"] += 1
            engine.await_metrics.resume_released[
                (interaction.step_id, interaction.transport_type)
            ] += 1
            log_lifecycle(
                logging.DEBUG,
                events.RESUMED,
                committed,
                interactionId=interaction.interaction_id,
                actor=interaction.actor,
            )
            if not applied:
                # The resume is durable; marking the interaction applied is bookkeeping (a crash
                # before it commits leaves it unapplied, and the awaits supervisor re-sends the
                # resolution, which finds the execution moved on). So it runs beside the resumed
                # transition instead of before it, one store round trip off the completion ->
                # result path, and is awaited before the next commit, so "applied" still lands
                # before anything the transition commits.
                self._applying = asyncio.ensure_future(self.mark_applied(interaction))
            self.resolved = interaction
            return committed
        failed = lifecycle.fail_await_timeout(record, now, interaction)
        if interaction.status is not InteractionStatus.TIMED_OUT:
            failed = msgspec.structs.replace(
                failed,
                error_code=f"AWAIT_{interaction.status.value}",
                error_message=f"Await interaction {interaction.status.value.lower()}: "
                f"{interaction.interaction_id}",
            )
        failed = await self.noted(
            record,
            failed,
            "AWAIT_TIMED_OUT",
            claimed=None if parked else record,
            interaction_id=interaction.interaction_id,
            error_code=failed.error_code,
            error_message=failed.error_message,
        )
        ended = await self.commit(failed, record.version)
        if isinstance(ended, Refused):
            return ended
        cp.crash_point(cp.AWAIT_FAIL_COMMIT)  # before the DLQ publish and the applied mark
        engine.counters["failed"] += 1
        engine.counters["await_timeouts"] += 1
        engine.metrics.execution_failed(ended)
        log_failed(ended)
        engine.dead_letter_committed(ended.dead_letters[-1])
        await self.mark_applied(interaction)
        return None

    async def settle(self) -> None:
        """Wait for the resumed interaction's "applied" write (:meth:`apply`), if one runs."""
        applying, self._applying = self._applying, None
        if applying is not None:
            await quietly(applying)

    async def mark_applied(self, interaction: AwaitInteraction) -> None:
        if await applied_writes.mark_applied(
            self.engine.stores.awaits, interaction, self.engine.clock
        ):
            cp.crash_point(cp.MARK_APPLIED)
