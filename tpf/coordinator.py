"""The coordinator: one object that wires stores, actors, supervisors and workers together.

This is the Python face of the one-process durable coordinator (the REST edge and the ``tpf``
command sit on top of it). Commands (submit, complete, re-drive, release and worker changes)
become messages to actors; queries read the stores. ``start()`` runs the supervisor loops;
tests may skip it and drive each supervisor's ``tick()`` with a fake clock instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from tpf import codec, ids, orphans, responses
from tpf.actors.context import EXECUTION, Engine, WorkerRouter
from tpf.actors.execution import ExecutionActor
from tpf.actors.messages import Redrive, Submit
from tpf.actors.registry import (
    REGISTRY,
    RegistryActor,
)
from tpf.actors.runtime import ActorSystem
from tpf.admission import Admission
from tpf.aws import AwsClients, needs_aws
from tpf.clock import Clock, SystemClock
from tpf.config import unsupported_warnings
from tpf.errors import ConfigError, NotFound, ValidationError
from tpf.leadership import AlwaysLeader, Leadership, LeaseLeadership
from tpf.pipeline import Pipeline
from tpf.records import (
    AwaitInteraction,
    ExecutionRecord,
    ExecutionStatus,
    IdempotencyPolicy,
)
from tpf.registry_commands import RegistryCommands
from tpf.release_files import ImportPolicy
from tpf.releases import ReleaseRegistrar
from tpf.settings import Settings
from tpf.step_threads import StepThreads
from tpf.stores.base import StoreSet
from tpf.stores.factory import open_stores
from tpf.supervisors.awaits import Awaits, Completion
from tpf.supervisors.dead_letters import DeadLetters
from tpf.supervisors.hosted_workers import HostedWorkers
from tpf.supervisors.idle import DEFAULT_MAX_ROUNDS, run_until_idle
from tpf.supervisors.lease_keeper import LeaseKeeper
from tpf.supervisors.loop import Pass, SupervisorLoop
from tpf.supervisors.sweeper import Sweeper
from tpf.supervisors.work_consumer import WorkConsumer
from tpf.transports.base import DeadLetterSink, WorkQueue
from tpf.transports.dlq_log import LogDeadLetterSink
from tpf.transports.factory import (
    check_await_transport,
    open_dead_letter_sink,
    open_work_queue,
)
from tpf.transports.inproc import InProcessWorkQueue
from tpf.transports.local_worker import LocalTransitionWorker, StepObserver

LOG = logging.getLogger("tpf.coordinator")
INPUT_SHAPES = frozenset({"UNI", "MULTI", "RAW"})
_GENERIC_TYPE_IDS = frozenset({None, "java.util.Map", "java.util.List", "java.util.Set"})


@dataclass(frozen=True)
class SubmitResult:
    execution_id: str
    duplicate: bool
    submitted_at_epoch_ms: int
    record: ExecutionRecord


class Coordinator(RegistryCommands):
    def __init__(
        self,
        settings: Settings,
        stores: StoreSet,
        *,
        clock: Clock | None = None,
        queue: WorkQueue | None = None,
        dlq_sink: DeadLetterSink | None = None,
        owner: str | None = None,
        rand: Callable[[], float] | None = None,
        leadership: Leadership | None = None,
        aws: AwsClients | None = None,
        instance: str | None = None,
    ) -> None:
        """``instance`` names this coordinator in its worker ids (default ``host:port``, the
        port being ``tpf.http.port``): keep it stable across restarts, distinct per process."""
        self.settings = settings
        self.stores = stores
        self.aws = aws  # the shared AWS clients (their request counts feed metrics and bench)
        self.clock = clock or SystemClock()
        self.router = WorkerRouter()
        self.step_threads = StepThreads(settings.worker_step_threads)  # shared by hosted code
        engine = Engine(
            settings=settings,
            stores=stores,
            clock=self.clock,
            queue=queue or InProcessWorkQueue(self.clock),
            router=self.router,
            owner=owner or f"coordinator-{uuid.uuid4()}",
        )
        if rand is not None:
            engine.rand = rand
        self.engine = engine
        self.system = ActorSystem(name="tpf")
        self.leases = LeaseKeeper(engine)
        self.leadership: Leadership = leadership or AlwaysLeader()
        self.sweeper = Sweeper(engine, self.system, self.leadership)
        self.dead_letters = DeadLetters(
            engine, dlq_sink or LogDeadLetterSink(), leadership=self.leadership
        )
        engine.dead_letter_committed = self.dead_letters.committed
        self.awaits = Awaits(
            engine, self.system, validator=self._validate_response, leadership=self.leadership
        )
        self.work_consumer = WorkConsumer(engine, self.system)
        self.registrar = ReleaseRegistrar(
            stores.releases, stores.artifacts, self.clock, ImportPolicy.from_settings(settings)
        )
        self.hosted = HostedWorkers(
            self,
            stores.releases,
            self.clock,
            instance=instance or f"{socket.gethostname()}:{settings.http_port}",
            stale_after_ms=settings.worker_stale_after_ms,
        )
        self.admission = Admission(
            stores,
            self.registrar,
            self.router,
            self.clock,
            stale_after_ms=settings.worker_stale_after_ms,
            on_hosted=self.hosted.learn,
        )
        self.system.register(EXECUTION, lambda _key: ExecutionActor(engine, self.leases))
        self.system.register(
            REGISTRY,
            lambda _key: RegistryActor(
                self.registrar, stores.workers, self.clock, self.admission.invalidate
            ),
        )
        self._loops: list[SupervisorLoop] = []
        self._hosted_loop: SupervisorLoop | None = None
        self._consumer_task: asyncio.Task[None] | None = None
        self._running = False

    @property
    def ready(self) -> bool:
        """True once ``start()`` ran (stores open, supervisors and actors running) until close."""
        return self._running

    @classmethod
    async def open(
        cls,
        settings: Settings,
        *,
        clock: Clock | None = None,
        dlq_sink: DeadLetterSink | None = None,
    ) -> Coordinator:
        """Build the coordinator a configuration describes: its stores, queue and DLQ sink.

        Providers the configuration names but this build cannot run fail here, before any
        store is opened.
        """
        clock = clock or SystemClock()
        check_await_transport(settings)
        if settings.sweeper_leader_election and settings.state_provider != "dynamo":
            raise ConfigError(
                "tpf.sweeper.leader-election=true needs pipeline.orchestrator.state-provider="
                f"dynamo (coordinators sharing state); it is {settings.state_provider}"
            )
        for line in unsupported_warnings(settings):
            LOG.warning("%s", line)
        aws = AwsClients(settings) if needs_aws(settings) else None
        try:
            if aws is not None:
                from tpf.startup_checks import check_aws_resources  # loads botocore: on demand

                await check_aws_resources(settings, aws)
            queue = open_work_queue(settings, clock, aws)
            sink = dlq_sink or open_dead_letter_sink(settings, aws)
            stores = await open_stores(settings, aws)
        except BaseException:
            if aws is not None:
                await aws.close()
            raise
        if aws is not None:
            stores.closers.insert(0, aws.close)  # closed last, after every store using it
        owner = f"coordinator-{uuid.uuid4()}"
        leadership: Leadership | None = None
        if settings.sweeper_leader_election:
            assert aws is not None  # the election needs dynamo state (checked above)
            from tpf.stores.dynamo.leader import DynamoLeaseStore

            store = DynamoLeaseStore(await aws.client("dynamodb"), settings)
            leadership = LeaseLeadership(store, owner, clock, settings.sweeper_leader_lease_ms)
        return cls(
            settings,
            stores,
            clock=clock,
            queue=queue,
            dlq_sink=sink,
            owner=owner,
            leadership=leadership,
            aws=aws,
        )

    # ------------------------------------------------------------------ lifecycle

    def host(
        self,
        pipeline: Pipeline,
        *,
        release_version: str | None = None,
        observer: StepObserver | None = None,
    ) -> LocalTransitionWorker:
        """Run ``pipeline``'s code in this process as a local transition worker.

        The coordinator registers and heartbeats the worker's lifecycle record itself, for every
        tenant with a release of its identity (:mod:`tpf.supervisors.hosted_workers`).
        """
        worker = LocalTransitionWorker(
            pipeline,
            self.clock,
            release_version=release_version,
            observer=observer,
            step_threads=self.step_threads,
        )
        self.router.add(worker)
        self.hosted.host(worker)
        self.admission.invalidate()
        if self._hosted_loop is not None:
            self._hosted_loop.wake()  # announce it to the tenants the registry knows
        return worker

    async def start(self) -> None:
        """Start the supervisor loops (work consumer, sweeper, leases, dead letters, awaits,
        hosted workers' heartbeats).

        On a state directory this process holds locked, leases of a dead predecessor are
        reclaimed first: the sweeper's first pass re-dispatches them at once.
        """
        s = self.settings
        await self.reclaim_leases()
        sweep_s = max(1.0, s.sweep_interval_ms / 1000.0)
        dead_letters = SupervisorLoop("dead-letters", self.dead_letters, sweep_s)
        self.dead_letters.wake = dead_letters.wake
        self._hosted_loop = SupervisorLoop("hosted-workers", self.hosted, self.hosted.interval_s)
        self._loops = [
            self._hosted_loop,
            SupervisorLoop("sweeper", self.sweeper, sweep_s),
            SupervisorLoop("lease-keeper", self.leases, self.leases.interval_s),
            dead_letters,
            # Held completions are retried every second; the repair of unapplied resolutions
            # is a sweep (index queries on every shard), so it runs at the sweep interval.
            SupervisorLoop("awaits-held", Pass(self.awaits.retry_held), 1.0),
            SupervisorLoop("awaits-repair", Pass(self.awaits.repair_unapplied), sweep_s),
        ]
        for loop in self._loops:
            loop.start()
        self._consumer_task = asyncio.create_task(self.work_consumer.run(), name="tpf-work")
        self._running = True
        LOG.info("coordinator %s started", self.engine.owner)

    async def run_until_idle(self, *, max_rounds: int = DEFAULT_MAX_ROUNDS) -> int:
        """Burst mode for tests: tick the work consumer, sweeper, dead letters, awaits and lease
        keeper until a round does no work (:mod:`tpf.supervisors.idle`); the work done."""
        passes = (self.work_consumer, self.sweeper, self.dead_letters, self.awaits, self.leases)
        return await run_until_idle(self.system, passes, max_rounds=max_rounds)

    async def reclaim_leases(self) -> int:
        """Let the leases of a dead predecessor expire now, so the sweeper's next pass takes
        their executions over instead of waiting out ``lease-ms``; how many.

        Only on a state directory this process holds locked (0 elsewhere, e.g. on shared
        DynamoDB state, where another lease holder may well be alive).
        """
        if self.stores.expire_leases is None:
            return 0
        reclaimed = await self.stores.expire_leases(self.engine.owner, self.clock.now_ms())
        if reclaimed:
            LOG.info(
                "reclaimed %d execution(s) leased by a previous coordinator on this locked "
                "state directory",
                reclaimed,
            )
        return reclaimed

    async def close(self) -> None:
        """Stop loops, drain this coordinator's worker records, stop the actors (pending asks
        fail), then close the stores (and release the state-directory lock)."""
        self._running = False
        with contextlib.suppress(Exception):  # best effort: a successor waits out the lease
            await self.leadership.resign()
        task, self._consumer_task = self._consumer_task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for loop in self._loops:
            await loop.stop()
        self._loops = []
        self._hosted_loop = None
        # Drained while the actors still run (the drain is a registry command); a successor
        # registers again, which clears the drain.
        try:
            await asyncio.wait_for(self.hosted.drain(), self.ask_timeout_s)
        except Exception as exc:  # best effort: undrained records just go stale
            LOG.warning("could not drain this coordinator's worker records: %s", exc)
        await self.system.stop()
        await self.engine.queue.close()
        await self.stores.close()

    async def __aenter__(self) -> Coordinator:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # ------------------------------------------------------------------ executions

    async def submit(
        self,
        tenant_id: str,
        pipeline_id: str,
        input_payload: Any,
        *,
        input_shape: str = "UNI",
        idempotency_key: str | None = None,
    ) -> SubmitResult:
        """Accept an execution of the tenant's active release of ``pipeline_id``."""
        _require(tenant_id, "tenantId")
        _require(pipeline_id, "pipelineId")
        if input_shape not in INPUT_SHAPES:
            raise ValidationError(
                f"inputShape: must be one of {', '.join(sorted(INPUT_SHAPES))}, got {input_shape!r}"
            )
        if input_payload is None:
            raise ValidationError("inputPayload is required")
        type_id, value = codec.decode_payload(
            input_payload, field="inputPayload", max_json_depth=self.settings.http_max_json_depth
        )
        release = await self.admission.admit(tenant_id, pipeline_id)
        identity = (pipeline_id, release.contract_version, release.release_version)
        worker = self.router.get(identity)
        if isinstance(worker, LocalTransitionWorker) and worker.pipeline.steps:
            first = worker.pipeline.steps[0]
            try:
                worker.pipeline.decode_input(0, value)
            except ValidationError as exc:
                raise ValidationError(f"inputPayload: {exc.message}") from None
            if type_id in _GENERIC_TYPE_IDS:
                type_id = first.input_type_id
        # What makes two submits the same: the derived key and the conflict check cover exactly
        # this, so a derived key can never be "reused" by a different submit.
        submitted = [pipeline_id, input_shape, value]
        key = self._execution_key(tenant_id, idempotency_key, codec.canonical_json(submitted))
        now = self.clock.now_ms()
        record = ExecutionRecord(
            tenant_id=tenant_id,
            execution_id=ids.new_execution_id(),
            execution_key=key,
            pipeline_id=pipeline_id,
            contract_version=release.contract_version,
            release_version=release.release_version,
            status=ExecutionStatus.QUEUED,
            input_shape=input_shape,
            input_type_id=type_id,
            input_payload=value,
            input_digest=codec.canonical_digest(submitted),
            next_due_epoch_ms=now,
            created_at_epoch_ms=now,
            updated_at_epoch_ms=now,
            # No TTL while live: retention counts from the terminal state (lifecycle.retain).
            ttl_epoch_s=0,
        )
        answer = await self.system.ask(
            EXECUTION,
            (tenant_id, record.execution_id),
            Submit(record),
            timeout_s=self.ask_timeout_s,
        )
        stored, duplicate = answer.record, answer.duplicate
        return SubmitResult(stored.execution_id, duplicate, stored.created_at_epoch_ms, stored)

    def _execution_key(self, tenant_id: str, client_key: str | None, submitted: bytes) -> str:
        policy = self.settings.idempotency_policy
        client_key = client_key.strip() if client_key else None
        if policy is IdempotencyPolicy.SERVER_KEY_ONLY:
            return ids.server_execution_key(tenant_id, submitted)
        if client_key:
            return client_key
        if policy is IdempotencyPolicy.CLIENT_KEY_REQUIRED:
            raise ValidationError(
                "idempotencyKey is required (idempotency-policy=CLIENT_KEY_REQUIRED)",
                code="IDEMPOTENCY_KEY_REQUIRED",
            )
        return ids.server_execution_key(tenant_id, submitted)

    async def status(self, tenant_id: str, execution_id: str) -> ExecutionRecord:
        record = await self.stores.executions.get(tenant_id, execution_id, self.clock.now_ms())
        if record is None:
            raise NotFound(f"Execution not found: {execution_id}")
        return record

    async def wait_for(
        self,
        tenant_id: str,
        execution_id: str,
        statuses: Iterable[ExecutionStatus],
        *,
        timeout_s: float,
    ) -> ExecutionRecord:
        """The execution once its status is one of ``statuses``; the current record on timeout."""
        wanted = frozenset(statuses)
        deadline = asyncio.get_running_loop().time() + timeout_s
        return await self._await_record(
            tenant_id, execution_id, lambda r: r.status in wanted, deadline
        )

    async def redrive(
        self,
        tenant_id: str,
        execution_id: str,
        *,
        expected_version: int | None = None,
        allow_failed: bool = False,
        reason: str | None = None,
        reopen_await: bool = False,
    ) -> ExecutionRecord:
        """Re-drive a terminal execution from its step; with ``reopen_await``, a FAILED one from
        its last await, which parks again on a fresh interaction (see
        :func:`tpf.redrives.reopen_await`)."""
        return await self.system.ask(
            EXECUTION,
            (tenant_id, execution_id),
            Redrive(expected_version, allow_failed, reason, reopen_await),
            timeout_s=self.ask_timeout_s,
        )

    # ------------------------------------------------------------------ awaits

    async def pending(
        self,
        tenant_id: str,
        *,
        assignee: str | None = None,
        group: str | None = None,
        step_id: str | None = None,
        limit: int = 100,
    ) -> list[AwaitInteraction]:
        limit = max(1, min(1000, limit))
        # Only interactions an answer can still resume: none whose execution is gone.
        return await orphans.pending_with_execution(
            self.stores,
            tenant_id,
            assignee=assignee,
            group=group,
            step_id=step_id,
            limit=limit,
            now_ms=self.clock.now_ms(),
            retention_ms=self.settings.execution_ttl_ms,
        )

    async def complete(
        self,
        tenant_id: str,
        *,
        interaction_id: str | None = None,
        correlation_id: str | None = None,
        response: Any,
        actor: str | None = None,
    ) -> Completion:
        if response is None:
            raise ValidationError("responsePayload is required")
        _, value = codec.decode_payload(
            response, field="responsePayload", max_json_depth=self.settings.http_max_json_depth
        )
        return await self.awaits.complete(
            tenant_id,
            interaction_id=interaction_id,
            correlation_id=correlation_id,
            response=value,
            actor=actor,
        )

    def _validate_response(self, interaction: AwaitInteraction, response: Any) -> Any:
        """Reject a completion whose response does not fit the await's declared output type
        strictly (when this process hosts the code), so a malformed answer is a 400 naming the
        field now rather than a failed execution later."""
        return responses.validate(self.router.all(), interaction, response)

    # ------------------------------------------------------------------ long polls

    async def wait_settled(
        self, tenant_id: str, execution_id: str, *, timeout_s: float
    ) -> ExecutionRecord:
        """The execution once terminal or parked on an interaction that still awaits its answer;
        the current record after ``timeout_s`` (the REST edge's ``?waitMs=`` long poll).

        A parked execution whose interaction is already resolved is about to resume, so it is not
        settled: a client that completes an await and then long-polls the result gets the resumed
        outcome, not the stale ``WAITING_EXTERNAL`` it had before.

        On shared state, the waiting also re-reads the store (see :meth:`_await_record`).
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        floor = -1  # a park counts only if committed after the resolved one we saw
        while True:
            record = await self._await_record(
                tenant_id, execution_id, _settled_after(floor), deadline
            )
            if record.terminal or loop.time() >= deadline or not await self._resuming(record):
                return record
            floor = record.version

    async def _await_record(
        self,
        tenant_id: str,
        execution_id: str,
        done: Callable[[ExecutionRecord], bool],
        deadline: float,
    ) -> ExecutionRecord:
        """The execution once ``done(record)``, or as it is at ``deadline`` (loop time).

        Woken by this process's commits; it watches before reading, so a commit between the
        read and the wait is not missed. Watchers only hear this process's commits: when the
        state is shared with other coordinators (DynamoDB), the execution may run on one of
        them, so the store is also re-read while waiting, after 0.1 s, then at doubling
        intervals up to once a second, or only once a second while this process holds its lease
        (its own commit will wake us).
        """
        loop = asyncio.get_running_loop()
        key = (tenant_id, execution_id)
        shared = self.settings.state_provider == "dynamo"
        reread_s = _REREAD_FIRST_S
        future = self.engine.watchers.add(key, done)
        try:
            record = await self.status(tenant_id, execution_id)
            while not done(record):
                remaining = deadline - loop.time()
                if remaining <= 0:
                    return record
                ours = record.lease_owner == self.engine.owner
                wait_s = min(remaining, _REREAD_MAX_S if ours else reread_s)
                try:
                    record = await asyncio.wait_for(
                        asyncio.shield(future), wait_s if shared else remaining
                    )
                except TimeoutError:
                    # Another coordinator may have committed it: look in the store.
                    record = await self.status(tenant_id, execution_id)
                    reread_s = min(reread_s * 2, _REREAD_MAX_S)
            return record
        finally:
            self.engine.watchers.discard(key, future)

    async def _resuming(self, record: ExecutionRecord) -> bool:
        if record.await_interaction_id is None:
            return False
        interaction = await self.stores.awaits.get(record.tenant_id, record.await_interaction_id)
        return interaction is not None and not interaction.pending


def _settled_after(floor: int) -> Callable[[ExecutionRecord], bool]:
    """Terminal, or parked by a commit after version ``floor``."""
    return lambda r: (
        r.terminal or (r.status is ExecutionStatus.WAITING_EXTERNAL and r.version > floor)
    )


# Long polls on shared state re-read the store after 0.1 s, then at doubling intervals up to 1 s.
_REREAD_FIRST_S = 0.1
_REREAD_MAX_S = 1.0


def _require(value: str | None, name: str) -> None:
    if value is None or not str(value).strip():
        raise ValidationError(f"{name} is required")
