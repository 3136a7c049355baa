"""The execution actor: one per ``(tenant, executionId)``, it moves its execution through states.

It handles one message at a time, so one process never runs two transitions of the same
execution at once; across processes the lease and the record's ``version`` fence them. Each
state change is computed by :mod:`tpf.core.lifecycle` and committed with compare-and-set on the
version the actor read or claimed (:mod:`tpf.actors.commits`); a refused compare-and-set means
another actor (elsewhere) moved the execution, and this one steps back. A transition's run (its
input, its worker) is :mod:`tpf.actors.transition`.

Messages (:mod:`tpf.actors.messages`): ``Submit`` (ask), ``Work`` (tell: claim and run if due),
``RunClaimed`` (tell, to itself), ``Resolve`` (tell: an interaction was completed or timed out),
``Redrive`` (ask), ``Cancel`` (ask: :mod:`tpf.actors.cancels`).
"""

from __future__ import annotations

import asyncio
import logging
from typing import cast

from tpf.actors import stream_phases
from tpf.actors.cancels import cancel_execution
from tpf.actors.commits import ExecutionCommits, Refused, log_lifecycle
from tpf.actors.context import EXECUTION, Engine
from tpf.actors.messages import (
    WORK,
    Cancel,
    ExecutionMessage,
    Message,
    Redrive,
    Resolve,
    RunClaimed,
    Submit,
    Submitted,
    Work,
)
from tpf.actors.runtime import Actor
from tpf.actors.stream_outputs import ItemWriter
from tpf.actors.transition import LeaseGuard, run_transition
from tpf.core import crash_points as cp
from tpf.core import events, lifecycle, redrives
from tpf.core.errors import Conflict, NotFound
from tpf.core.records import (
    AwaitInteraction,
    ExecutionRecord,
    ExecutionStatus,
    TransitionOutcome,
    WorkItem,
)


class ExecutionActor(Actor[ExecutionMessage]):
    def __init__(self, engine: Engine, leases: LeaseGuard) -> None:
        self.engine = engine
        self.leases = leases
        # Holds the record as this actor last committed it (``commits.last``).
        self.commits = ExecutionCommits(engine)
        self._pending_tells: set[asyncio.Task[None]] = set()

    async def receive(self, message: ExecutionMessage) -> object:
        match message:
            case Work():
                await self._work()
                return None
            case RunClaimed(record=record):
                await self._run(record)
                return None
            case Resolve(interaction=interaction):
                await self._resolve(interaction)
                return None
            case Submit(record=record):
                return await self._submit(record)
            case Redrive():
                return await self._redrive(message)
            case Cancel():
                key = cast(tuple[str, str], self.key)
                return await cancel_execution(self.commits, *key, message)
            case _:  # the type says otherwise, but a caller may send anything at run time
                raise TypeError(f"unknown execution message {type(message).__name__}")

    # ------------------------------------------------------------------ commands

    async def _submit(self, record: ExecutionRecord) -> Submitted:
        engine = self.engine
        now = engine.clock.now_ms()
        # Created already leased to us, so the first transition needs no separate claim write.
        # If this process dies first, the lease expires and the sweeper finds it.
        claimed = lifecycle.lease(record, engine.owner, now, engine.settings.execution.lease_ms)
        claimed = await self.commits.noted(None, claimed, "SUBMITTED")
        stored, duplicate = await engine.stores.executions.create_or_get(claimed, now)
        if duplicate:
            if stored.input_digest != record.input_digest:
                raise Conflict(
                    f"idempotencyKey {record.execution_key!r} was already used for execution "
                    f"{stored.execution_id} with a different payload",
                    code="IDEMPOTENCY_KEY_REUSED",
                )
            log_lifecycle(
                logging.DEBUG, events.SUBMITTED, stored, duplicate=True, status=stored.status
            )
            return Submitted(stored, duplicate=True)
        log_lifecycle(
            logging.DEBUG,
            events.SUBMITTED,
            stored,
            duplicate=False,
            pipeline=stored.pipeline_id,
            release=stored.release_version,
        )
        cp.crash_point(cp.EXECUTION_CREATE)
        engine.counters["submitted"] += 1
        engine.metrics.learn(stored.tenant_id, stored.pipeline_id)
        engine.committed(stored)
        self._tell_self(RunClaimed(stored))
        return Submitted(stored, duplicate=False)

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
        queued = await self.commits.noted(
            record,
            queued,
            "REDRIVEN",
            reason=queued.redrives[-1].reason,
            interaction_id=queued.redrives[-1].reopened_interaction_id,
        )
        committed = await engine.stores.executions.compare_and_set(queued, record.version)
        if committed is None:
            raise Conflict(f"Execution {execution_id} changed before re-drive could be admitted")
        cp.crash_point(cp.REDRIVE_COMMIT)
        entry = committed.redrives[-1]
        log_lifecycle(
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

    def _tell_self(self, message: Message) -> None:
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
        engine.metrics.note_admission(engine.in_flight)
        async with engine.in_flight:
            claimed = await engine.stores.executions.claim_lease(
                tenant_id,
                execution_id,
                engine.owner,
                engine.clock.now_ms(),
                engine.settings.execution.lease_ms,
            )
            if claimed is not None:
                cp.crash_point(cp.LEASE_CLAIM)
            while claimed is not None:
                claimed = await self._transition(claimed)

    async def _run(self, claimed: ExecutionRecord | None) -> None:
        self.engine.metrics.note_admission(self.engine.in_flight)
        try:
            async with self.engine.in_flight:
                while claimed is not None:
                    claimed = await self._transition(claimed)
        finally:
            await self.commits.settle()  # a resume's "applied" write outlives no transition

    async def _transition(self, claimed: ExecutionRecord) -> ExecutionRecord | None:
        """Run one transition of a claimed execution and commit its outcome.

        Returns a newly claimed record when the execution can go on at once (its await was
        already completed), else ``None``.
        """
        engine = self.engine
        engine.counters["transitions"] += 1
        resolved, self.commits.resolved = self.commits.resolved, None
        plan = await engine.step_ids.stream(engine.stores.releases, claimed)
        if plan is not None and plan.in_items(claimed.current_step_index):
            return await stream_phases.run_items(self.commits, self.leases, plan, claimed)
        writer = ItemWriter(engine, claimed) if plan is not None else None
        result = await run_transition(
            engine,
            self.leases,
            claimed,
            resolved,
            ran_by=self.commits.ran_by,
            plan=plan,
            sink=writer,
        )
        if result is None:  # the lease was lost: someone else runs it now
            return None
        if result.outcome is TransitionOutcome.COMPLETED:
            if plan is not None and writer and claimed.current_step_index <= plan.expansion:
                return await stream_phases.expanded(
                    self.commits, plan, claimed, result, writer.count
                )
            done = await self.commits.succeed(claimed, result)
            if done is not None and done.items is not None:
                await stream_phases.forget_items(engine, done)
            return None
        if result.outcome is TransitionOutcome.WAITING_EXTERNAL:
            return await self.commits.park(claimed, result)
        await self.commits.fail(claimed, result)
        return None

    # ------------------------------------------------------------------ awaits

    async def _resolve(self, interaction: AwaitInteraction) -> None:
        engine, commits = self.engine, self.commits
        cached = commits.last
        if cached is not None and lifecycle.is_parked_on(cached, interaction):
            applied = await commits.apply(cached, interaction, parked=True)
            if not isinstance(applied, Refused):
                await self._run(applied)
                return
            # The cached record was stale (another coordinator moved the execution): a refusal
            # here is expected, not a lost lease, so it is not fenced; read the record instead.
            engine.counters["record_cache_misses"] += 1
        now = engine.clock.now_ms()
        record = await engine.stores.executions.get(
            interaction.tenant_id, interaction.execution_id, now
        )
        if record is not None and lifecycle.is_parked_on(record, interaction):
            await self._run(commits.fence(await commits.apply(record, interaction, parked=True)))
            return
        if record is not None and record.status is ExecutionStatus.RUNNING:
            # A transition (maybe in another process) may be about to park on this interaction;
            # its post-park check applies the resolution. Leave ``applied`` false so the awaits
            # supervisor asks again if that transition dies first.
            return
        await commits.mark_applied(interaction)
