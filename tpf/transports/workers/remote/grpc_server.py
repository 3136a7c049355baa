"""The worker side of the gRPC protocol (spec §7.4): a grpc.aio servicer in front of a
:class:`~tpf.transports.workers.remote.contracts.WorkerHandler`.

Each call is checked in this order: the server is enabled, a shared secret is configured, the
signature in the message fields holds (METHOD ``GRPC``, PATH the RPC's full name, BODY the
command envelope, empty for ``Capabilities``), then the protocol version and encoding; only
then does the handler see the bytes. Refusals carry the original's status codes:

=========================================  ====================
disabled                                   UNIMPLEMENTED
signature missing, stale, wrong, replayed  UNAUTHENTICATED
bad version / encoding / envelope JSON     INVALID_ARGUMENT
no secret / not ready / nonce store down   FAILED_PRECONDITION
anything else                              INTERNAL
=========================================  ====================
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import grpc

from tpf.transports.workers.remote.contracts import (
    ENVELOPE_ENCODING,
    GRPC_CAPABILITIES_PATH,
    GRPC_EXECUTE_PATH,
    PROTOCOL_VERSION,
    MalformedRequest,
    WorkerHandler,
    WorkerNotReady,
)
from tpf.transports.workers.remote.grpc import MAX_INBOUND_MESSAGE_SIZE
from tpf.transports.workers.remote.grpc import transition_worker_pb2 as pb
from tpf.transports.workers.remote.grpc import transition_worker_pb2_grpc as pb_grpc
from tpf.transports.workers.remote.signing import SignatureRejected, Verifier

log = logging.getLogger(__name__)

PROVIDER_NAME = "grpc"  # the capability's providerName (spec §6.3 matches lifecycle on it)

_ExecuteContext = grpc.aio.ServicerContext[pb.TransitionWorkerRequest, pb.TransitionWorkerResponse]
_CapabilitiesContext = grpc.aio.ServicerContext[
    pb.TransitionWorkerCapabilitiesRequest, pb.TransitionWorkerCapabilitiesResponse
]


class _Disabled(Exception):
    pass


class TransitionWorkerServicer(pb_grpc.TransitionWorkerServiceServicer):
    """``TransitionWorkerService`` over a handler. ``verifier`` is ``None`` when the worker has
    no shared secret: every call is then refused, as the original refuses to run unsigned."""

    def __init__(
        self, handler: WorkerHandler, verifier: Verifier | None, *, enabled: bool = True
    ) -> None:
        self._handler = handler
        self._verifier = verifier
        self._enabled = enabled

    async def Execute(
        self, request: pb.TransitionWorkerRequest, context: _ExecuteContext
    ) -> pb.TransitionWorkerResponse:
        try:
            await self._admit(GRPC_EXECUTE_PATH, request.command_envelope, request)
            if request.payload_encoding != ENVELOPE_ENCODING:
                raise MalformedRequest(f"unsupported payload encoding {request.payload_encoding!r}")
            result = await self._handler.execute(request.command_envelope)
        except Exception as exc:
            await context.abort(*_refusal(GRPC_EXECUTE_PATH, exc))
        return pb.TransitionWorkerResponse(
            protocol_version=PROTOCOL_VERSION,
            payload_encoding=ENVELOPE_ENCODING,
            result_envelope=result,
        )

    async def Capabilities(
        self, request: pb.TransitionWorkerCapabilitiesRequest, context: _CapabilitiesContext
    ) -> pb.TransitionWorkerCapabilitiesResponse:
        try:
            await self._admit(GRPC_CAPABILITIES_PATH, b"", request)
            capability = await self._handler.capabilities(PROVIDER_NAME)
        except Exception as exc:
            await context.abort(*_refusal(GRPC_CAPABILITIES_PATH, exc))
        return pb.TransitionWorkerCapabilitiesResponse(capability_envelope=capability)

    async def _admit(
        self,
        path: str,
        body: bytes,
        request: pb.TransitionWorkerRequest | pb.TransitionWorkerCapabilitiesRequest,
    ) -> None:
        if not self._enabled:
            raise _Disabled("the gRPC transition worker server is disabled")
        if self._verifier is None:
            raise WorkerNotReady("the worker has no shared secret configured")
        # Signature before content: an unsigned caller learns nothing about what we accept.
        try:
            await self._verifier.verify(
                "GRPC", path, body, request.timestamp, request.nonce, request.signature
            )
        except (SignatureRejected, asyncio.CancelledError):
            raise
        except Exception as exc:
            # The check could not finish (the shared nonce store failed): fail closed, but as
            # "cannot serve now" (retryable), not as an unauthenticated caller.
            raise WorkerNotReady("the worker cannot check signatures right now") from exc
        if request.protocol_version != PROTOCOL_VERSION:
            raise MalformedRequest(f"unsupported protocol version {request.protocol_version!r}")


def status_of(exc: Exception) -> tuple[grpc.StatusCode, str]:
    """The status code and details a refused call ends with."""
    if isinstance(exc, _Disabled):
        return grpc.StatusCode.UNIMPLEMENTED, str(exc)
    if isinstance(exc, SignatureRejected):
        # The reason is logged, never echoed: a prober learns only that it was refused.
        return grpc.StatusCode.UNAUTHENTICATED, "unauthenticated transition worker request"
    if isinstance(exc, MalformedRequest):
        return grpc.StatusCode.INVALID_ARGUMENT, str(exc)
    if isinstance(exc, WorkerNotReady):
        return grpc.StatusCode.FAILED_PRECONDITION, str(exc)
    return grpc.StatusCode.INTERNAL, f"transition worker failed: {type(exc).__name__}"


def _refusal(path: str, exc: Exception) -> tuple[grpc.StatusCode, str]:
    code, details = status_of(exc)
    if isinstance(exc, SignatureRejected):
        log.warning("gRPC %s refused: %s (%s)", path, exc.reason, exc)
    elif code is grpc.StatusCode.INTERNAL:
        log.error("gRPC %s failed", path, exc_info=exc)
    elif exc.__cause__ is not None:
        log.error("gRPC %s refused: %s %s", path, code.name, details, exc_info=exc.__cause__)
    else:
        log.info("gRPC %s refused: %s %s", path, code.name, details)
    return code, details


def _address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host and not host.startswith("[") else f"{host}:{port}"


async def start_grpc_worker_server(
    handler: WorkerHandler,
    verifier: Verifier | None,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    enabled: bool = True,
    max_inbound_message_size: int = MAX_INBOUND_MESSAGE_SIZE,
    tls: tuple[str, str] | None = None,
) -> tuple[grpc.aio.Server, int]:
    """Start serving ``TransitionWorkerService`` and return the server and the port it bound
    (``port=0`` picks a free one). ``tls`` is ``(certificate chain PEM path, private key PEM
    path)``; without it the server is plaintext. Stop it with ``await server.stop(grace)``."""
    server = grpc.aio.server(
        options=[("grpc.max_receive_message_length", max_inbound_message_size)]
    )
    # protoc's registration function is untyped; this is its one call.
    pb_grpc.add_TransitionWorkerServiceServicer_to_server(  # type: ignore[no-untyped-call]
        TransitionWorkerServicer(handler, verifier, enabled=enabled), server
    )
    address = _address(host, port)
    if tls is None:
        bound = server.add_insecure_port(address)
    else:
        cert, key = await asyncio.gather(
            asyncio.to_thread(Path(tls[0]).read_bytes), asyncio.to_thread(Path(tls[1]).read_bytes)
        )
        bound = server.add_secure_port(address, grpc.ssl_server_credentials([(key, cert)]))
    await server.start()
    log.info(
        "gRPC transition worker serving on %s (%s)",
        _address(host, bound),
        "tls" if tls else "plaintext",
    )
    return server, bound
