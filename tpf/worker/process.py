"""The worker process: pipeline code served to coordinators, from start to a drained stop.

:meth:`WorkerProcess.start`, in order:

1. the nonce guard ``tpf.worker.nonce-store`` chooses (:func:`tpf.stores.nonces.open_nonce_guard`:
   replicas sharing its SQLite file or DynamoDB table refuse a replay across them), and the
   protocol's shared secret and tolerance (``worker.<protocol>.shared-secret[-ref]``,
   ``signature-tolerance``) in a :class:`~tpf.transports.workers.remote.signing.Verifier`;
2. the pipelines as local transition workers behind a :class:`WorkerHost`, which advertises
   ``worker.artifact-id`` / ``-digest`` in its capability;
3. the HTTP app (``/q/health``, ``/q/metrics``; for REST also the two worker routes) and the
   protocol's server (:mod:`tpf.worker.servers`), which gives the endpoint to register;
4. the lifecycle records: for each tenant, one per hosted identity, id ``host:port@release``,
   registered, heartbeated and drained through the coordinator's admin API
   (:mod:`tpf.worker.announce`), or written to the shared DynamoDB lifecycle store
   (``lifecycle_store``, :mod:`tpf.worker.lifecycle_store`). A registration that fails
   (coordinator not up yet) is retried every couple of seconds; heartbeats go every quarter of
   ``worker.lifecycle.stale-after``.

:meth:`WorkerProcess.stop` is the SIGTERM drain: new transitions are refused at once (REST 503,
gRPC ``FAILED_PRECONDITION``: the coordinator retries them on another worker) and readiness goes
``DOWN``; the running ones finish (up to ``drain_timeout_s``) and their results are answered;
then the records are marked ``DRAINING``, the servers close and everything opened is closed, in
reverse order. It answers whether every running transition finished. SIGKILL needs nothing
here: the coordinator's call fails and the transition is retried elsewhere, fenced by the
execution's version.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Callable
from dataclasses import dataclass

from aiohttp import web

from tpf.authoring.pipeline import Pipeline
from tpf.aws.clients import AwsClients
from tpf.config.settings import Settings
from tpf.config.worker_secrets import metrics_token, shared_secret
from tpf.config.worker_targets import protocol_section
from tpf.core.clock import Clock, SystemClock
from tpf.core.records import WorkerRecord
from tpf.stores.health import Readiness
from tpf.stores.nonces import open_nonce_guard
from tpf.supervisors.hosted_workers import HostedWorkers, WorkerCommands
from tpf.transports.workers.directory import WorkerDirectory
from tpf.transports.workers.local import LocalTransitionWorker
from tpf.transports.workers.remote.host import WorkerHost
from tpf.transports.workers.remote.signing import Verifier
from tpf.transports.workers.step_threads import StepThreads
from tpf.worker.announce import AdminApiCommands, Registration
from tpf.worker.lifecycle_store import StoreCommands, open_lifecycle_store
from tpf.worker.observability import WorkerCollector, add_probe_routes
from tpf.worker.servers import SERVERS, ProtocolServer, ServerContext, address, shares_http_port

__all__ = ["WorkerOptions", "WorkerProcess"]

LOG = logging.getLogger("tpf.worker")
REGISTER_RETRY_S = 2.0  # a registration that failed (coordinator not up yet) is tried again
DRAIN_CALLS_TIMEOUT_S = 15.0  # the admin drain calls on stop, all together
REPLY_GRACE_S = 5.0  # a reply still being written when the listener closes
_WILDCARDS = ("", "0.0.0.0", "::")


@dataclass(frozen=True)
class WorkerOptions:
    """The command line of ``tpf worker`` (everything else comes from the settings)."""

    protocol: str = "rest"
    bind_host: str = "127.0.0.1"
    port: int = 8181
    http_port: int = 8182  # the probes' port when the protocol is not served over HTTP
    advertise_host: str | None = None  # default: the bind host, or this host's name
    coordinator_url: str | None = None
    admin_token: str | None = None
    tenants: tuple[str, ...] = ()
    drain_timeout_s: float = 30.0
    # Write the records to the shared (DynamoDB) lifecycle store instead of the admin API.
    lifecycle_store: bool = False


class WorkerProcess:
    def __init__(
        self,
        settings: Settings,
        pipelines: list[tuple[Pipeline, str | None]],
        options: WorkerOptions,
        *,
        clock: Clock | None = None,
        on_registered: Callable[[WorkerRecord], None] | None = None,
    ) -> None:
        if options.protocol not in SERVERS:
            raise ValueError(f"unknown worker protocol {options.protocol!r}")
        self.settings = settings
        self.options = options
        self.clock = clock or SystemClock()
        self._on_registered = on_registered
        threads = StepThreads(settings.workers.step_threads)
        directory = WorkerDirectory()
        self.workers = [
            LocalTransitionWorker(p, self.clock, release_version=v, step_threads=threads)
            for p, v in pipelines
        ]
        for worker in self.workers:
            directory.add(worker)
        self.host = WorkerHost(
            directory,
            artifact_id=settings.workers.artifact_id,
            artifact_digest=settings.workers.artifact_digest,
        )
        self.endpoint = ""
        self.http_url = ""
        self._stack = contextlib.AsyncExitStack()
        self._readiness: Readiness | None = None
        self._serving = False
        self._hosted: HostedWorkers | None = None
        self._announcing: asyncio.Task[None] | None = None
        self._server: ProtocolServer | None = None

    async def ready(self) -> bool:
        """Whether a coordinator should send transitions here now (``/q/health/ready``): it
        serves, is not draining, its records are registered (so a script that waits for ready
        can submit at once) and its nonce store answers."""
        if not self._ready_now():
            return False
        return self._readiness is None or await self._readiness.ready()

    async def start(self) -> None:
        """Open and serve everything (see the module docstring); on failure what was opened
        is closed again."""
        try:
            await self._start()
        except BaseException:
            await self._stack.aclose()
            raise

    async def _start(self) -> None:
        s, o = self.settings, self.options
        secret = shared_secret(s, o.protocol)  # a ConfigError names the keys
        scrape_token = metrics_token(s)
        nonces = await open_nonce_guard(s, self.clock)
        self._stack.push_async_callback(nonces.aclose)
        health = getattr(nonces, "health", None)
        self._readiness = Readiness([health] if health is not None else [], self.clock)
        tolerance = protocol_section(s, o.protocol).signature_tolerance_ms
        verifier = Verifier(secret, self.clock, nonces, tolerance)
        for worker in self.workers:
            self._stack.push_async_callback(worker.aclose)
        app = web.Application()
        add_probe_routes(
            app,
            WorkerCollector(self.host, verifier, protocol=o.protocol, ready=self._ready_now),
            self.ready,
            metrics_token=scrape_token,
        )
        advertise = o.advertise_host or (
            socket.gethostname() if o.bind_host in _WILDCARDS else o.bind_host
        )
        aws = None
        if o.protocol == "sqs":  # the poller's queues (closed after it: pushed first)
            aws = AwsClients(s)
            self._stack.push_async_callback(aws.close)
        ctx = ServerContext(
            s,
            self.clock,
            self.host,
            verifier,
            nonces,
            o.bind_host,
            o.port,
            advertise,
            app,
            secret=secret,
            aws=aws,
        )
        server = SERVERS[o.protocol](ctx)
        http_port = o.port if shares_http_port(o.protocol) else o.http_port
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=REPLY_GRACE_S)
        await runner.setup()
        self._stack.push_async_callback(runner.cleanup)
        await web.TCPSite(runner, o.bind_host, http_port).start()
        bound = int(runner.addresses[0][1])
        self.http_url = ctx.http_url = f"http://{address(advertise, bound)}"
        self.endpoint = await server.start()
        self._server = server
        self._stack.push_async_callback(server.stop, REPLY_GRACE_S)
        self._serving = True
        for worker in self.workers:
            pid, cv, rv = worker.identity
            LOG.info("serving %s (contract %s, release %s) on %s", pid, cv, rv, self.endpoint)
        await self._announce()

    def _ready_now(self) -> bool:
        registered = self._hosted is None or self._hosted.pending == 0
        return self._serving and not self.host.draining and registered

    async def _announce(self) -> None:
        o = self.options
        if not o.tenants:
            LOG.warning(
                "no --tenant: this worker registers with no coordinator; register it yourself "
                "(tpf workers register --protocol %s --endpoint %s ...)",
                o.protocol,
                self.endpoint,
            )
            return
        s = self.settings
        registration = Registration(
            o.protocol, self.endpoint, s.workers.artifact_id or "", s.workers.artifact_digest or ""
        )
        commands: WorkerCommands
        if o.lifecycle_store:
            store = await open_lifecycle_store(s, self.clock, self._stack)
            commands = StoreCommands(
                store, registration, self.clock, on_registered=self._on_registered
            )
        else:
            if not o.coordinator_url:
                raise ValueError("registering with tenants needs the coordinator's URL")
            api = AdminApiCommands(
                o.coordinator_url, o.admin_token, registration, on_registered=self._on_registered
            )
            self._stack.push_async_callback(api.aclose)
            commands = api
        # The record id names this process: stable across its restarts, distinct per replica.
        instance = self.endpoint.removeprefix("http://").removeprefix("https://")
        hosted = HostedWorkers(
            commands,
            None,
            self.clock,
            instance=instance,
            stale_after_ms=s.workers.stale_after_ms,
        )
        for tenant in o.tenants:
            for worker in self.workers:
                hosted.announce(tenant, worker)
        self._hosted = hosted
        self._announcing = asyncio.create_task(self._keep_announced(hosted), name="tpf-announce")

    async def _keep_announced(self, hosted: HostedWorkers) -> None:
        while True:
            try:
                await hosted.tick()
            except Exception:  # logged; the next pass tries again
                LOG.exception("worker registration pass failed")
            await asyncio.sleep(REGISTER_RETRY_S if hosted.pending else hosted.interval_s)

    async def stop(self) -> bool:
        """Drain and close (see the module docstring); whether every running transition
        finished."""
        drained = True
        try:
            if self._serving:
                LOG.info("draining: %d transition(s) running", self.host.in_flight)
                drained = await self.host.drain(self.options.drain_timeout_s)
            if self._announcing is not None:
                self._announcing.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._announcing
            if self._hosted is not None:
                try:
                    await asyncio.wait_for(self._hosted.drain(), DRAIN_CALLS_TIMEOUT_S)
                except TimeoutError:
                    LOG.warning("the coordinator did not take the drain calls in time")
        finally:
            self._serving = False
            await self._stack.aclose()
        return drained
