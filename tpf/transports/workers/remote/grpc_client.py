"""The coordinator side of the gRPC protocol (spec §7.4): a
:class:`~tpf.transports.workers.remote.contracts.WorkerTransport` on one grpc.aio channel.

Every call is signed in its message fields (METHOD ``GRPC``, PATH the RPC's full name, BODY the
command envelope, empty for ``Capabilities``) and carries a deadline. A refused or failed call
becomes a :class:`~tpf.transports.workers.remote.contracts.TransportFailure` whose category
(spec §7.6) is read from the status code; a reply in another protocol version or encoding is a
``protocol`` failure.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import grpc

from tpf.core.clock import Clock
from tpf.transports.workers.remote.contracts import (
    ENVELOPE_ENCODING,
    GRPC_CAPABILITIES_PATH,
    GRPC_EXECUTE_PATH,
    PROTOCOL_VERSION,
    TransportFailure,
)
from tpf.transports.workers.remote.grpc import MAX_INBOUND_MESSAGE_SIZE
from tpf.transports.workers.remote.grpc import transition_worker_pb2 as pb
from tpf.transports.workers.remote.signing import Signer

CATEGORIES: dict[grpc.StatusCode, str] = {
    grpc.StatusCode.DEADLINE_EXCEEDED: "timeout",
    grpc.StatusCode.UNAUTHENTICATED: "auth",
    grpc.StatusCode.UNAVAILABLE: "unavailable",
    grpc.StatusCode.INVALID_ARGUMENT: "malformed",
    grpc.StatusCode.CANCELLED: "cancelled",
    grpc.StatusCode.INTERNAL: "remote_server",
    grpc.StatusCode.FAILED_PRECONDITION: "remote_server",
    grpc.StatusCode.UNIMPLEMENTED: "protocol",
}  # any other code (RESOURCE_EXHAUSTED for an oversized message, ...) is "unexpected"

_Execute = grpc.aio.UnaryUnaryMultiCallable[pb.TransitionWorkerRequest, pb.TransitionWorkerResponse]
_Capabilities = grpc.aio.UnaryUnaryMultiCallable[
    pb.TransitionWorkerCapabilitiesRequest, pb.TransitionWorkerCapabilitiesResponse
]


class GrpcWorkerTransport:
    """One worker target (``worker.grpc.endpoint``, ``host:port``). ``plaintext=False`` is TLS,
    trusting ``ca_file`` (PEM) or, without it, the system's roots. Each call's deadline is the
    caller's ``timeout_s``, capped by ``request_timeout_s`` (``worker.grpc.request-timeout``)."""

    protocol = "grpc"

    def __init__(
        self,
        endpoint: str,
        secret: str,
        clock: Clock,
        *,
        plaintext: bool,
        request_timeout_s: float = 30.0,
        max_inbound_message_size: int = MAX_INBOUND_MESSAGE_SIZE,
        ca_file: str | None = None,
    ) -> None:
        self.endpoint = endpoint
        self.request_timeout_s = request_timeout_s
        self._signer = Signer(secret, clock)
        self._plaintext = plaintext
        self._max_inbound = max_inbound_message_size
        self._ca_file = ca_file
        self._channel: grpc.aio.Channel | None = None
        self._execute: _Execute | None = None
        self._capabilities: _Capabilities | None = None

    async def start(self) -> None:
        """Open the channel (connecting lazily, on the first call). Idempotent."""
        if self._channel is not None:
            return
        options = [("grpc.max_receive_message_length", self._max_inbound)]
        if self._plaintext:
            channel = grpc.aio.insecure_channel(self.endpoint, options=options)
        else:
            roots = (
                await asyncio.to_thread(Path(self._ca_file).read_bytes) if self._ca_file else None
            )
            credentials = grpc.ssl_channel_credentials(root_certificates=roots)
            channel = grpc.aio.secure_channel(self.endpoint, credentials, options=options)
        # The multicallables straight from the channel (not protoc's untyped stub): typed ends.
        self._execute = channel.unary_unary(
            GRPC_EXECUTE_PATH,
            request_serializer=pb.TransitionWorkerRequest.SerializeToString,
            response_deserializer=pb.TransitionWorkerResponse.FromString,
        )
        self._capabilities = channel.unary_unary(
            GRPC_CAPABILITIES_PATH,
            request_serializer=pb.TransitionWorkerCapabilitiesRequest.SerializeToString,
            response_deserializer=pb.TransitionWorkerCapabilitiesResponse.FromString,
        )
        self._channel = channel

    async def aclose(self) -> None:
        channel, self._channel = self._channel, None
        self._execute = self._capabilities = None
        if channel is not None:
            await channel.close()

    async def execute(self, command_envelope: bytes, timeout_s: float) -> bytes:
        if self._execute is None:
            raise RuntimeError("GrpcWorkerTransport.execute before start()")
        stamp = self._signer.stamp("GRPC", GRPC_EXECUTE_PATH, command_envelope)
        request = pb.TransitionWorkerRequest(
            protocol_version=PROTOCOL_VERSION,
            payload_encoding=ENVELOPE_ENCODING,
            command_envelope=command_envelope,
            timestamp=stamp.timestamp,
            nonce=stamp.nonce,
            signature=stamp.signature,
        )
        try:
            response = await self._execute(request, timeout=self._deadline(timeout_s))
        except grpc.aio.AioRpcError as exc:
            raise self._failure("Execute", exc) from None
        if response.protocol_version != PROTOCOL_VERSION:
            raise TransportFailure(
                "protocol", f"gRPC worker replied protocol version {response.protocol_version!r}"
            )
        if response.payload_encoding != ENVELOPE_ENCODING:
            raise TransportFailure(
                "protocol", f"gRPC worker replied payload encoding {response.payload_encoding!r}"
            )
        if not response.result_envelope:
            raise TransportFailure("malformed", "gRPC worker replied an empty result envelope")
        return response.result_envelope

    async def capabilities(self, timeout_s: float) -> bytes:
        if self._capabilities is None:
            raise RuntimeError("GrpcWorkerTransport.capabilities before start()")
        stamp = self._signer.stamp("GRPC", GRPC_CAPABILITIES_PATH, b"")
        request = pb.TransitionWorkerCapabilitiesRequest(
            protocol_version=PROTOCOL_VERSION,
            timestamp=stamp.timestamp,
            nonce=stamp.nonce,
            signature=stamp.signature,
        )
        try:
            response = await self._capabilities(request, timeout=self._deadline(timeout_s))
        except grpc.aio.AioRpcError as exc:
            raise self._failure("Capabilities", exc) from None
        if not response.capability_envelope:
            raise TransportFailure("malformed", "gRPC worker replied an empty capability")
        return response.capability_envelope

    def _deadline(self, timeout_s: float) -> float:
        return min(timeout_s, self.request_timeout_s)

    def _failure(self, rpc: str, exc: grpc.aio.AioRpcError) -> TransportFailure:
        code = exc.code()
        return TransportFailure(
            CATEGORIES.get(code, "unexpected"),
            f"gRPC worker {self.endpoint} {rpc}: {code.name}: {exc.details()}",
        )
