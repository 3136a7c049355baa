"""The composition root: build every part of a coordinator in order, start it, close it.

``Runtime.open`` builds what a configuration describes, each part from its provider table
(:mod:`tpf.config.providers`): AWS clients when a chosen provider needs them, the await channel,
the stores, the work queue, the DLQ sink, then the engine, actors, supervisors and the worker
directory. Every opened resource's close is pushed onto one ``AsyncExitStack``, so ``close()``
closes them in reverse order of opening, and a failure while opening closes what was opened.

The constructor takes already opened stores (and optionally a queue and a sink: tests, embedded
use); it closes those too, as if opened in that order.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import socket
import uuid
from collections.abc import Callable
from typing import Any, Self

from tpf.actors.context import EXECUTION, Engine
from tpf.actors.execution import ExecutionActor
from tpf.actors.registry import REGISTRY, RegistryActor
from tpf.actors.runtime import ActorSystem
from tpf.authoring.pipeline import Pipeline
from tpf.aws.clients import AwsClients, needs_aws
from tpf.config import unsupported_warnings
from tpf.config.providers import ClosingStack, OpenContext, check_chosen, kafka_topics
from tpf.config.settings import Settings
from tpf.core.clock import Clock, SystemClock
from tpf.core.errors import ConfigError
from tpf.engine.admission import Admission
from tpf.engine.await_lane import AwaitLane, input_type
from tpf.engine.parts import Parts
from tpf.engine.registry_commands import RegistryCommands
from tpf.engine.release_files import ImportPolicy
from tpf.engine.releases import ReleaseRegistrar
from tpf.stores.base import StoreSet
from tpf.stores.factory import open_stores
from tpf.supervisors.await_dispatcher import AwaitDispatcher
from tpf.supervisors.awaits import Awaits
from tpf.supervisors.dead_letters import DeadLetters
from tpf.supervisors.hosted_workers import HostedWorkers
from tpf.supervisors.idle import DEFAULT_MAX_ROUNDS, run_until_idle
from tpf.supervisors.leadership import AlwaysLeader, Leadership, LeaseLeadership
from tpf.supervisors.lease_keeper import LeaseKeeper
from tpf.supervisors.loop import Pass, SupervisorLoop
from tpf.supervisors.sweeper import Sweeper
from tpf.supervisors.work_consumer import WorkConsumer
from tpf.transports.awaits.metrics import AwaitMetrics
from tpf.transports.awaits.rest import RestAwaitChannel
from tpf.transports.base import AwaitChannel, DeadLetterSink, WorkQueue
from tpf.transports.dlq.log import LogDeadLetterSink
from tpf.transports.providers import (
    AWAIT_CHANNELS,
    DLQ_SINKS,
    WORK_QUEUES,
    pinned_channels,
    worker_directory,
)
from tpf.transports.work.inproc import InProcessWorkQueue
from tpf.transports.workers.directory import WorkerDirectory
from tpf.transports.workers.local import LocalTransitionWorker, StepObserver
from tpf.transports.workers.step_threads import StepThreads

LOG = logging.getLogger("tpf.coordinator")


async def _call(part: Any, method: str) -> None:
    """``part.<method>()`` if it has one: a sink handed in (a test's) may lack the lifecycle."""
    bound = getattr(part, method, None)
    if bound is not None:
        await bound()


class Runtime(RegistryCommands, Parts):
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
        resources: OpenContext | None = None,
        channel: AwaitChannel | None = None,
    ) -> None:
        """``instance`` names this coordinator in its worker ids (default ``host:port``, the
        port being ``tpf.http.port``): keep it stable across restarts, distinct per process.
        ``resources`` is the context :meth:`open` opened everything on (it closes them)."""
        self.settings = settings
        self.stores = stores
        self.aws = aws  # the shared AWS clients (their request counts feed metrics and bench)
        self.clock = clock or SystemClock()
        if resources is None:
            # Parts handed in close as if opened in this order: stores, queue, DLQ sink.
            resources = OpenContext(settings, self.clock, aws, ClosingStack())
            resources.stack.push_async_callback(stores.close)
            queue = queue or InProcessWorkQueue(self.clock)
            resources.stack.push_async_callback(queue.close)
            dlq_sink = dlq_sink or LogDeadLetterSink()
            resources.stack.push_async_callback(_call, dlq_sink, "aclose")
        assert queue is not None and dlq_sink is not None  # open() passes both
        self._resources = resources
        self.dlq_sink = dlq_sink
        # Workers close before the sink, queue and stores they were opened after.
        self.directory = worker_directory(stores.workers, stores.releases, resources)
        resources.stack.push_async_callback(self.directory.aclose)
        self.step_threads = StepThreads(settings.workers.step_threads)  # shared by hosted code
        self.leadership: Leadership = leadership or AlwaysLeader()
        self.system = ActorSystem(name="tpf")
        self.await_lane = AwaitLane(
            settings, channel or RestAwaitChannel(), build=pinned_channels(resources)
        )
        engine = Engine(
            settings=settings,
            stores=stores,
            clock=self.clock,
            queue=queue,
            workers=self.directory,
            owner=owner or f"coordinator-{uuid.uuid4()}",
            rand=rand or random.random,
            # Forward references, not later assignments: the supervisors below need the engine.
            dead_letter_committed=lambda envelope: self.dead_letters.committed(envelope),
            route_interaction=self.await_lane.route,
            interaction_stored=lambda interaction: self.await_dispatcher.stored(interaction),
            await_metrics=resources.await_metrics or AwaitMetrics(),
        )
        self.engine = engine
        self.leases = LeaseKeeper(engine)
        self.await_dispatcher = AwaitDispatcher(
            engine,
            self.await_lane.resolve,
            resume_secret=self.await_lane.resume_secret,
            input_type=input_type,
            leadership=self.leadership,
        )
        self.sweeper = Sweeper(engine, self.system, self.leadership)
        self.dead_letters = DeadLetters(engine, dlq_sink, leadership=self.leadership)
        self.awaits = Awaits(
            engine,
            self.system,
            validator=self.directory.validate_response,
            leadership=self.leadership,
        )
        self.await_lane.bind(resources.completions, self.awaits, stores.awaits, self.clock)
        self.work_consumer = WorkConsumer(engine, self.system)
        self.registrar = ReleaseRegistrar(
            stores.releases, stores.artifacts, self.clock, ImportPolicy.from_settings(settings)
        )
        self.hosted = HostedWorkers(
            self,
            stores.releases,
            self.clock,
            instance=instance or f"{socket.gethostname()}:{settings.http.port}",
            stale_after_ms=settings.workers.stale_after_ms,
        )
        self.admission = Admission(
            stores,
            self.registrar,
            self.directory,
            self.clock,
            stale_after_ms=settings.workers.stale_after_ms,
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

    @property
    def router(self) -> WorkerDirectory:
        """The worker directory under its old name."""
        return self.directory

    @classmethod
    async def open(
        cls,
        settings: Settings,
        *,
        clock: Clock | None = None,
        dlq_sink: DeadLetterSink | None = None,
    ) -> Self:
        """Build the coordinator a configuration describes: its stores, queue and DLQ sink.

        Providers the configuration names but this build cannot run fail here, before any
        store is opened.
        """
        clock = clock or SystemClock()
        check_chosen(settings)
        if settings.sweeper.leader_election and settings.state.provider != "dynamo":
            raise ConfigError(
                "tpf.sweeper.leader-election=true needs pipeline.orchestrator.state-provider="
                f"dynamo (coordinators sharing state); it is {settings.state.provider}"
            )
        for line in unsupported_warnings(settings):
            LOG.warning("%s", line)
        stack = ClosingStack()
        try:
            aws = AwsClients(settings) if needs_aws(settings) else None
            if aws is not None:
                stack.push_async_callback(aws.close)  # closed last, after every part using it
                from tpf.engine.startup_checks import (
                    check_aws_resources,  # loads botocore: on demand
                )

                await check_aws_resources(settings, aws)
            if kafka_topics(settings):
                from tpf.engine.startup_checks import check_kafka_resources

                await check_kafka_resources(settings)
            ctx = OpenContext(settings, clock, aws, stack)
            ctx.await_metrics = AwaitMetrics()  # the channels count in the engine's metrics
            stores = await open_stores(settings, aws, ctx=ctx)
            queue = await WORK_QUEUES.open(ctx)
            if dlq_sink is None:
                dlq_sink = await DLQ_SINKS.open(ctx)
            else:
                stack.push_async_callback(_call, dlq_sink, "aclose")
            # Opened after the stores it admits into, so it stops consuming before they close.
            channel = await AWAIT_CHANNELS.open(ctx)
            owner = f"coordinator-{uuid.uuid4()}"
            leadership: Leadership | None = None
            if settings.sweeper.leader_election:
                assert aws is not None  # the election needs dynamo state (checked above)
                from tpf.stores.dynamo.leader import DynamoLeaseStore

                store = DynamoLeaseStore(await aws.client("dynamodb"), settings)
                leadership = LeaseLeadership(store, owner, clock, settings.sweeper.leader_lease_ms)
            return cls(
                settings,
                stores,
                clock=clock,
                queue=queue,
                dlq_sink=dlq_sink,
                owner=owner,
                leadership=leadership,
                aws=aws,
                resources=ctx,
                channel=channel,
            )
        except BaseException:
            await stack.aclose()
            raise

    def host(
        self,
        pipeline: Pipeline,
        *,
        release_version: str | None = None,
        observer: StepObserver | None = None,
        worker_type: type[LocalTransitionWorker] = LocalTransitionWorker,
    ) -> LocalTransitionWorker:
        """Run ``pipeline``'s code in this process as a local transition worker.

        The coordinator registers and heartbeats the worker's lifecycle record itself, for every
        tenant with a release of its identity (:mod:`tpf.supervisors.hosted_workers`).
        ``worker_type`` may be a subclass (``tpf.testing`` injects worker outages with one).
        """
        self.await_lane.check_hosted(pipeline)
        worker = worker_type(
            pipeline,
            self.clock,
            release_version=release_version,
            observer=observer,
            step_threads=self.step_threads,
        )
        self.directory.add(worker)
        self.hosted.host(worker)
        self.admission.invalidate()
        if self._hosted_loop is not None:
            self._hosted_loop.wake()  # announce it to the tenants the registry knows
        return worker

    async def start(self) -> None:
        """Start the DLQ sink and workers, then the supervisor loops (work consumer, sweeper,
        leases, dead letters, awaits, hosted workers' heartbeats).

        On a state directory this process holds locked, leases of a dead predecessor are
        reclaimed first: the sweeper's first pass re-dispatches them at once.
        """
        s = self.settings
        await _call(self.dlq_sink, "start")
        await self.directory.start()
        await self.await_lane.start()  # consumes completions (closed with the stack)
        await self.reclaim_leases()
        sweep_s = max(1.0, s.sweeper.interval_ms / 1000.0)
        dead_letters = SupervisorLoop("dead-letters", self.dead_letters, sweep_s)
        self.dead_letters.wake = dead_letters.wake
        dispatch = SupervisorLoop("await-dispatch", self.await_dispatcher, sweep_s)
        self.await_dispatcher.wake = dispatch.wake
        self._hosted_loop = SupervisorLoop("hosted-workers", self.hosted, self.hosted.interval_s)
        self._loops = [
            self._hosted_loop,
            SupervisorLoop("sweeper", self.sweeper, sweep_s),
            SupervisorLoop("lease-keeper", self.leases, self.leases.interval_s),
            dead_letters,
            dispatch,
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
        passes = (
            self.work_consumer,
            self.sweeper,
            self.dead_letters,
            self.await_dispatcher,
            self.awaits,
            self.leases,
        )
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
        fail), then close every opened resource in reverse order of opening: workers, the DLQ
        sink, the queue, the stores (releasing the state-directory lock), the AWS clients."""
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
        await self._resources.stack.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
