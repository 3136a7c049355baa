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
- ``sqs``: **the hook for the SQS poller** (``tpf.transports.workers.remote.sqs_server``, being
  merged separately). Its entry is to build ``SqsWorkerServer(aws, worker.sqs.request-queue-url,
  response-queue-url, ctx.handler, secret, ctx.clock, nonces=ctx.nonces, tolerance_ms=...)``,
  ``start()`` it and answer the request queue URL; ``stop`` is its ``aclose()`` (which waits for
  the requests in flight). Until then choosing it is a configuration error naming this.

A protocol's ``stop`` runs after the host drained (no transition in flight), so it only closes
the listener: ``grace_s`` bounds how long a reply still being written may take.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import grpc
from aiohttp import web

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


class _SqsHook:
    protocol = "sqs"
    shares_http_port = False

    def __init__(self, ctx: ServerContext) -> None:
        raise ConfigError(
            "tpf worker --protocol sqs: the SQS request poller is not wired into the worker "
            "process in this build (see tpf.worker.servers)"
        )

    async def start(self) -> str:  # pragma: no cover - never built
        raise NotImplementedError

    async def stop(self, grace_s: float) -> None:  # pragma: no cover - never built
        raise NotImplementedError


SERVERS: dict[str, Callable[[ServerContext], ProtocolServer]] = {
    "rest": _Rest,
    "grpc": _Grpc,
    "sqs": _SqsHook,
}


def shares_http_port(protocol: str) -> bool:
    """Whether the protocol is served by the probe app itself (on ``--port``)."""
    return bool(getattr(SERVERS[protocol], "shares_http_port", False))
