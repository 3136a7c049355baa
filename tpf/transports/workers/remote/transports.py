"""Which transport reaches a remote worker, and the coordinator's configured worker target.

:data:`TRANSPORT_BUILDERS` maps a protocol to the builder of its
:class:`~tpf.transports.workers.remote.contracts.WorkerTransport`; each builder imports its
protocol's module (``rest_client``, ``grpc_client``, ``sqs_client``) only when that protocol is
used, and reads the protocol's settings (timeouts, secret, TLS). A test replaces an entry to
put an in-memory transport behind the real client.

Where a worker is reached, for an identity (``WorkerDirectory.resolve``):

1. a registered worker record of the protocol whose ``endpoint`` is an address of that
   protocol (``http(s)://...`` for REST, ``host:port`` for gRPC, a queue URL for SQS): a client
   of its own to that address. This is how workers of two releases serve side by side during
   an upgrade;
2. a record without a usable endpoint, when the coordinator's target
   (``worker.rest.base-url`` / ``worker.grpc.endpoint`` / ``worker.sqs.request-queue-url``) is
   of that protocol: the target;
3. no record at all (or none of a protocol that can be reached): the target, *if* it serves
   the identity. The target's identity is what it says it hosts: its capability answer for
   REST and gRPC (cached for a few seconds), ``worker.sqs.pipeline-id/contract-version/
   release-version`` for SQS, which has no capability call. So the configured target serves
   the release its workers were deployed with, normally the active one; executions pinned to
   another release wait (retryably) for a worker of theirs.

The target has one transport, opened on first use and closed with the coordinator, shared by
the client of every identity it serves (and one capability cache with it).
"""

from __future__ import annotations

import importlib
from collections.abc import Awaitable, Callable
from typing import Any

from tpf.config.providers import OpenContext
from tpf.config.settings import Settings
from tpf.config.worker_secrets import shared_secret
from tpf.config.worker_targets import TARGET_KEYS, worker_target
from tpf.core.clock import Clock
from tpf.core.errors import ConfigError
from tpf.core.records import PipelineContract, WorkerRecord
from tpf.transports.workers.remote.capability import PipelineWorkerCapability, encode_capability
from tpf.transports.workers.remote.client import CapabilityCache, CapabilitySource, RemoteWorker
from tpf.transports.workers.remote.contracts import TransportFailure, WorkerTransport

__all__ = [
    "TRANSPORT_BUILDERS",
    "ConfiguredTarget",
    "TransportBuilder",
    "configured_target",
    "record_client",
    "request_timeout_s",
    "target_client",
]

Identity = tuple[str, str, str]
# (context, endpoint) -> an unstarted transport; endpoint ``None`` is the configured target.
TransportBuilder = Callable[[OpenContext, str | None], Awaitable[WorkerTransport]]
_M = "tpf.transports.workers.remote."
_SQS_IDENTITY = "pipeline.orchestrator.worker.sqs."


def _module(name: str) -> Any:
    # Imported by name, when the protocol is used: grpcio and aiobotocore load only for theirs.
    return importlib.import_module(_M + name)


def _target(settings: Settings, protocol: str, endpoint: str | None) -> str:
    value = (
        endpoint
        or {
            "rest": settings.worker_rest.base_url,
            "grpc": settings.worker_grpc.endpoint,
            "sqs": settings.worker_sqs.request_queue_url,
        }[protocol]
    )
    if not value:
        raise ConfigError(
            f"{TARGET_KEYS[protocol]} is not set and the worker record names no endpoint"
        )
    return value


def request_timeout_s(settings: Settings, protocol: str) -> float:
    ms = {
        "rest": settings.worker_rest.request_timeout_ms,
        "grpc": settings.worker_grpc.request_timeout_ms,
        "sqs": settings.worker_sqs.request_timeout_ms,
    }[protocol]
    return ms / 1000.0


async def _rest(ctx: OpenContext, endpoint: str | None) -> WorkerTransport:
    rest = ctx.settings.worker_rest
    transport: WorkerTransport = _module("rest_client").RestWorkerTransport(
        _target(ctx.settings, "rest", endpoint),
        shared_secret(ctx.settings, "rest"),
        ctx.clock,
        connect_timeout_s=rest.connect_timeout_ms / 1000.0,
        request_timeout_s=rest.request_timeout_ms / 1000.0,
    )
    return transport


async def _grpc(ctx: OpenContext, endpoint: str | None) -> WorkerTransport:
    grpc = ctx.settings.worker_grpc
    transport: WorkerTransport = _module("grpc_client").GrpcWorkerTransport(
        _target(ctx.settings, "grpc", endpoint),
        shared_secret(ctx.settings, "grpc"),
        ctx.clock,
        plaintext=grpc.plaintext,
        request_timeout_s=grpc.request_timeout_ms / 1000.0,
        max_inbound_message_size=grpc.max_inbound_message_size,
        ca_file=grpc.ca_file,
    )
    return transport


async def _sqs(ctx: OpenContext, endpoint: str | None) -> WorkerTransport:
    sqs = ctx.settings.worker_sqs
    if not sqs.response_queue_url:
        raise ConfigError(f"{_SQS_IDENTITY}response-queue-url is required for SQS workers")
    transport: WorkerTransport = _module("sqs_client").SqsWorkerTransport(
        ctx.require_aws(),
        _target(ctx.settings, "sqs", endpoint),
        sqs.response_queue_url,
        shared_secret(ctx.settings, "sqs"),
        ctx.clock,
        request_timeout_s=sqs.request_timeout_ms / 1000.0,
    )
    return transport


TRANSPORT_BUILDERS: dict[str, TransportBuilder] = {"rest": _rest, "grpc": _grpc, "sqs": _sqs}


def sqs_capability(settings: Settings) -> PipelineWorkerCapability | None:
    """The identity the workers behind the configured SQS queue host (``None`` until
    ``worker.sqs.pipeline-id``, ``contract-version`` and ``release-version`` are all set)."""
    sqs = settings.worker_sqs
    if not (sqs.pipeline_id and sqs.contract_version and sqs.release_version):
        return None
    return PipelineWorkerCapability(
        provider_name="sqs",
        pipeline_id=sqs.pipeline_id,
        contract_version=sqs.contract_version,
        release_version=sqs.release_version,
        artifact_id=sqs.artifact_id,
        artifact_digest=sqs.artifact_digest,
        worker_protocols=("sqs",),
    )


def _static(capability: PipelineWorkerCapability | None) -> CapabilitySource:
    async def fetch() -> bytes:
        if capability is None:
            raise TransportFailure(
                "unavailable",
                f"SQS worker availability requires {_SQS_IDENTITY}pipeline-id, "
                f"{_SQS_IDENTITY}contract-version and {_SQS_IDENTITY}release-version",
            )
        return encode_capability(capability)

    return fetch


def _capabilities(
    protocol: str,
    transport: WorkerTransport,
    clock: Clock,
    timeout_s: float,
    static: PipelineWorkerCapability | None,
) -> CapabilityCache:
    if protocol == "sqs":  # SQS has no capability call (spec §6.3)
        return CapabilityCache(_static(static), clock)
    return CapabilityCache(lambda: transport.capabilities(timeout_s), clock)


def usable_endpoint(protocol: str, endpoint: str) -> str | None:
    """``endpoint`` if it is an address of ``protocol``, else ``None`` (records may carry a
    label, or nothing)."""
    text = endpoint.strip()
    if protocol in ("rest", "sqs"):
        return text if text.startswith(("http://", "https://")) else None
    if protocol == "grpc":
        host, sep, port = text.rpartition(":")
        return text if sep and host and "/" not in text and port.isdigit() else None
    return None


class ConfiguredTarget:
    """The coordinator's configured remote worker: one transport and one capability cache,
    shared by the client of every identity it serves."""

    def __init__(self, ctx: OpenContext, protocol: str, transport: WorkerTransport) -> None:
        self.protocol = protocol
        self.transport = transport
        self._clock = ctx.clock
        self._timeout_s = request_timeout_s(ctx.settings, protocol)
        self.capabilities = _capabilities(
            protocol, transport, ctx.clock, self._timeout_s, sqs_capability(ctx.settings)
        )

    async def serves(self, identity: Identity) -> bool:
        """Whether the target hosts ``identity`` (by its capability; ``False`` when it cannot
        be read now)."""
        try:
            capability = await self.capabilities.get()
        except TransportFailure:
            return False
        return capability.identity == identity

    def client(self, identity: Identity, contract: PipelineContract | None) -> RemoteWorker:
        return RemoteWorker(
            self.transport,
            identity,
            clock=self._clock,
            contract=contract,
            request_timeout_s=self._timeout_s,
            capabilities=self.capabilities,
            owns_transport=False,
        )


async def configured_target(ctx: OpenContext) -> ConfiguredTarget | None:
    """The configured target (opened once per coordinator), ``None`` without one."""
    protocol = worker_target(ctx.settings)
    if protocol is None:
        return None

    async def open_() -> ConfiguredTarget:
        transport = await TRANSPORT_BUILDERS[protocol](ctx, None)
        await transport.start()
        ctx.stack.push_async_callback(transport.aclose)
        return ConfiguredTarget(ctx, protocol, transport)

    target: ConfiguredTarget = await ctx.shared("worker-target", open_)
    return target


async def record_client(
    ctx: OpenContext,
    identity: Identity,
    record: WorkerRecord,
    contract: PipelineContract | None,
) -> RemoteWorker | None:
    """The client of a registered worker (rules 1 and 2 above), ``None`` if it cannot be
    reached: no usable endpoint and no target of its protocol."""
    protocol = record.protocol.lower()
    endpoint = usable_endpoint(protocol, record.endpoint)
    if endpoint is None:
        target = await configured_target(ctx)
        if target is None or target.protocol != protocol:
            return None
        return target.client(identity, contract)
    transport = await TRANSPORT_BUILDERS[protocol](ctx, endpoint)
    timeout_s = request_timeout_s(ctx.settings, protocol)
    # An SQS worker states its identity by its record (there is no capability call).
    static = PipelineWorkerCapability(
        provider_name=protocol,
        pipeline_id=record.pipeline_id,
        contract_version=record.contract_version,
        release_version=record.release_version,
        artifact_id=record.artifact_id or None,
        artifact_digest=record.artifact_digest or None,
    )
    return RemoteWorker(
        transport,
        identity,
        clock=ctx.clock,
        contract=contract,
        request_timeout_s=timeout_s,
        capabilities=_capabilities(protocol, transport, ctx.clock, timeout_s, static),
    )


async def target_client(
    ctx: OpenContext, identity: Identity, contract: PipelineContract | None
) -> RemoteWorker | None:
    """The configured target's client for ``identity`` if it serves it (rule 3 above)."""
    target = await configured_target(ctx)
    if target is None or not await target.serves(identity):
        return None
    return target.client(identity, contract)
