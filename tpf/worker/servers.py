"""The protocol a worker process serves its pipeline code on: one entry per protocol.

Every entry builds a :class:`ProtocolServer` in front of the same
:class:`~tpf.transports.workers.remote.contracts.WorkerHandler` (the process's
:class:`~tpf.transports.workers.remote.host.WorkerHost`) and signature
:class:`~tpf.transports.workers.remote.signing.Verifier`; :meth:`ProtocolServer.start` answers
the *endpoint* the worker registers, where a coordinator reaches it (spec §2.4 records):

- ``rest``: the two signed routes (:class:`~tpf.transports.workers.remote.rest_server.
  WorkerRestServer`) join the process's HTTP app, beside ``/q/health`` and ``/q/metrics``, on
  ``--port``; endpoint ``http://host:port``;
- ``grpc``: ``TransitionWorkerService`` on ``--port`` (plaintext with
  ``worker.grpc.plaintext=true``, else TLS from ``tpf.worker.grpc.tls-cert-file``/``-key-file``),
  the HTTP app on ``--http-port``; endpoint ``host:port``;
- ``sqs``: the request poller (:class:`~tpf.transports.workers.remote.sqs_server.
  SqsWorkerServer`) on ``worker.sqs.request-queue-url``, answering on
  ``worker.sqs.response-queue-url`` (the process's AWS clients, from the same SQS settings as a
  coordinator's); the HTTP app on ``--http-port``; endpoint the request queue URL. Its ``stop``
  waits for the requests in flight.

A protocol's ``stop`` runs after the host drained (no transition in flight), so it only closes
the listener: ``grace_s`` bounds how long a reply still being written may take.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import grpc
from aiohttp import web

from tpf.aws.clients import AwsClients, error_code
from tpf.config.settings import Settings
from tpf.core.clock import Clock
from tpf.core.errors import ConfigError
from tpf.stores.base import NonceGuard
from tpf.transports.workers.remote.contracts import WorkerHandler
from tpf.transports.workers.remote.grpc_server import start_grpc_worker_server
from tpf.transports.workers.remote.rest_server import WorkerRestServer
from tpf.transports.workers.remote.signing import Verifier

__all__ = ["SERVERS", "ProtocolServer", "ServerContext", "address"]


def address(host: str, port: int) -> str:
    """``host:port``, an IPv6 host in brackets."""
    return f"[{host}]:{port}" if ":" in host and not host.startswith("[") else f"{host}:{port}"


@dataclass
class ServerContext:
    """What a protocol server is built from."""

    settings: Settings
    clock: Clock
    handler: WorkerHandler
    verifier: Verifier | None
    nonces: NonceGuard
    bind_host: str  # the listen address (--host)
    port: int  # the protocol's port (--port; 0: a free one)
    advertise_host: str  # the host name coordinators reach this worker by
    http_app: web.Application  # the process's probe app, not started yet
    secret: str = ""  # the protocol's shared secret (the SQS poller signs its answers)
    aws: AwsClients | None = None  # opened for the SQS protocol only
    http_url: str = ""  # the probe app's URL, once it listens


class ProtocolServer(Protocol):
    protocol: str

    async def start(self) -> str:
        """Start serving; the endpoint coordinators reach this worker at."""
        ...

    async def stop(self, grace_s: float) -> None: ...


class _Rest:
    protocol = "rest"
    # The REST routes are served by the probe app itself, on the protocol's port.
    shares_http_port = True

    def __init__(self, ctx: ServerContext) -> None:
        self._ctx = ctx
        WorkerRestServer(ctx.handler, ctx.verifier, enabled=True).add_routes(ctx.http_app)

    async def start(self) -> str:
        return self._ctx.http_url  # the app listens already

    async def stop(self, grace_s: float) -> None:
        return None  # the process stops its HTTP app last


class _Grpc:
    protocol = "grpc"
    shares_http_port = False

    def __init__(self, ctx: ServerContext) -> None:
        self._ctx = ctx
        self._server: grpc.aio.Server | None = None

    async def start(self) -> str:
        ctx = self._ctx
        section = ctx.settings.worker_grpc
        tls = None
        if not section.plaintext:
            if not (section.tls_cert_file and section.tls_key_file):  # config check says so too
                raise ConfigError(
                    "a TLS gRPC worker needs tpf.worker.grpc.tls-cert-file and -key-file "
                    "(or pipeline.orchestrator.worker.grpc.plaintext=true)"
                )
            tls = (section.tls_cert_file, section.tls_key_file)
        self._server, bound = await start_grpc_worker_server(
            ctx.handler,
            ctx.verifier,
            host=ctx.bind_host,
            port=ctx.port,
            max_inbound_message_size=section.max_inbound_message_size,
            tls=tls,
        )
        return address(ctx.advertise_host, bound)

    async def stop(self, grace_s: float) -> None:
        server, self._server = self._server, None
        if server is not None:
            await server.stop(grace_s)


class _Sqs:
    protocol = "sqs"
    shares_http_port = False

    def __init__(self, ctx: ServerContext) -> None:
        section = ctx.settings.worker_sqs
        if not (section.request_queue_url and section.response_queue_url):
            raise ConfigError(
                "tpf worker --protocol sqs needs pipeline.orchestrator.worker.sqs."
                "request-queue-url and response-queue-url"
            )
        if ctx.aws is None:
            raise ConfigError("tpf worker --protocol sqs needs AWS clients (none were opened)")
        from tpf.transports.workers.remote.sqs_server import SqsWorkerServer

        self._request_queue_url = section.request_queue_url
        self._aws = ctx.aws
        self._queues = (
            ("request-queue-url", section.request_queue_url),
            ("response-queue-url", section.response_queue_url),
        )
        self._server = SqsWorkerServer(
            ctx.aws,
            section.request_queue_url,
            section.response_queue_url,
            ctx.handler,
            ctx.secret,
            ctx.clock,
            nonces=ctx.nonces,
            tolerance_ms=section.signature_tolerance_ms,
            poll_start_delay_s=section.poll_start_delay_ms / 1000.0,
        )

    async def start(self) -> str:
        # Refuse to start on a queue that is not there, naming it: a poller on a missing queue
        # would only log its receive failures.
        sqs = await self._aws.client("sqs")
        for key, url in self._queues:
            try:
                await sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
            except Exception as exc:
                raise ConfigError(
                    f"pipeline.orchestrator.worker.sqs.{key}={url}: the queue cannot be read "
                    f"({error_code(exc) or type(exc).__name__}); create it (tpf bootstrap aws) "
                    "or fix the URL"
                ) from None
        await self._server.start()
        return self._request_queue_url

    async def stop(self, grace_s: float) -> None:
        await self._server.aclose()


SERVERS: dict[str, Callable[[ServerContext], ProtocolServer]] = {
    "rest": _Rest,
    "grpc": _Grpc,
    "sqs": _Sqs,
}


def shares_http_port(protocol: str) -> bool:
    """Whether the protocol is served by the probe app itself (on ``--port``)."""
    return bool(getattr(SERVERS[protocol], "shares_http_port", False))
