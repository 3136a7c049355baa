"""The two seams every worker protocol plugs into, so envelopes are coded once.

- Worker side: a protocol server (REST route, gRPC servicer, SQS poller) verifies the
  signature, then hands the command envelope's bytes to a :class:`WorkerHandler` and sends back
  the bytes it returns. The handler decodes, checks identity, runs the code, encodes the result.
- Coordinator side: a :class:`WorkerTransport` moves a command envelope's bytes to a worker and
  its result envelope's bytes back (signing on the way out, verifying on the way in where the
  protocol signs responses). The remote worker client (``client.py``) turns a
  :class:`~tpf.core.records.TransitionCommand` into those bytes and the reply into a
  :class:`~tpf.core.records.TransitionResult`.

Protocol versions and encodings are the original's (spec §7).
"""

from __future__ import annotations

from typing import Protocol

PROTOCOL_VERSION = "1"
ENVELOPE_ENCODING = "application/tpf-transition-envelope+json"

REST_EXECUTE_PATH = "/pipeline/worker/transitions/execute"
REST_CAPABILITIES_PATH = "/pipeline/worker/capabilities"
GRPC_SERVICE = "org.pipelineframework.orchestrator.grpc.TransitionWorkerService"
GRPC_EXECUTE_PATH = f"/{GRPC_SERVICE}/Execute"
GRPC_CAPABILITIES_PATH = f"/{GRPC_SERVICE}/Capabilities"
SQS_REQUEST_PATH = "/pipeline/worker/transitions/sqs/request"
SQS_RESPONSE_PATH = "/pipeline/worker/transitions/sqs/response"


class MalformedRequest(Exception):
    """The request is not a valid envelope (REST 400, gRPC INVALID_ARGUMENT, SQS: dropped)."""


class WorkerNotReady(Exception):
    """The worker cannot serve (no shared secret, shutting down): REST 503, gRPC
    FAILED_PRECONDITION."""


class TransportFailure(Exception):
    """The coordinator could not get a valid reply from the worker. ``category`` is one of the
    original's boundary labels (spec §7.6): ``timeout``, ``auth``, ``unavailable``,
    ``remote_server``, ``malformed``, ``protocol``, ``cancelled``, ``unexpected``. Always
    retryable: the transition is attempted again."""

    def __init__(self, category: str, message: str) -> None:
        super().__init__(message)
        self.category = category


class WorkerHandler(Protocol):
    """What a protocol server calls once a request's signature holds."""

    async def execute(self, command_envelope: bytes) -> bytes:
        """The result envelope (JSON bytes) for a command envelope (JSON bytes). A failing
        step is a ``FAILED`` result, not an exception; raises :class:`MalformedRequest` or
        :class:`WorkerNotReady`."""
        ...

    async def capabilities(self, provider_name: str) -> bytes:
        """The ``PipelineWorkerCapability`` JSON bytes, ``providerName`` = ``provider_name``."""
        ...


class WorkerTransport(Protocol):
    """How the coordinator reaches one remote worker target."""

    protocol: str  # "rest", "grpc", "sqs"

    async def execute(self, command_envelope: bytes, timeout_s: float) -> bytes:
        """The worker's result envelope bytes; raises :class:`TransportFailure`."""
        ...

    async def capabilities(self, timeout_s: float) -> bytes:
        """The worker's capability JSON bytes; raises :class:`TransportFailure`."""
        ...

    async def start(self) -> None: ...

    async def aclose(self) -> None: ...
