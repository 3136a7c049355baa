"""The coordinator side of every protocol: a transition worker that runs code elsewhere.

:class:`RemoteWorker` is a :class:`~tpf.transports.base.TransitionWorker` over one
:class:`~tpf.transports.workers.remote.contracts.WorkerTransport` (REST, gRPC or SQS: the
transport is all that differs). ``execute`` encodes the command envelope, hands it to the
transport with the protocol's request timeout and decodes the result envelope. Whatever goes
wrong on the way (no answer in time, refused, a malformed reply) is a *retryable* ``FAILED``
result whose ``errorCode`` names the category (``TRANSITION_WORKER_TIMEOUT``...): the engine
backs off and tries again, perhaps on another worker. ``cancel`` stops waiting for an
execution's call at once (its lease was lost); if the worker finishes the transition anyway,
its late result is never committed, because the engine's version fence refuses it.

Client input for the identity is checked by a
:class:`~tpf.transports.workers.validators.ContractTypesValidator` of the release's contract
(the coordinator has no pipeline object for remote code), or passed unchecked without one.

Submit admission asks :meth:`RemoteWorker.availability` whether the worker runs the active
release. That reads the worker's capability through a :class:`CapabilityCache`: answers are
kept for a few seconds, and submissions arriving together share one call, instead of the
original's signed live call on every submit.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from tpf.core.clock import Clock
from tpf.core.records import (
    PipelineContract,
    ReleaseRecord,
    TransitionCommand,
    TransitionFailure,
    TransitionOutcome,
    TransitionResult,
)
from tpf.transports.base import ContractValidator
from tpf.transports.workers.remote.capability import (
    PipelineWorkerCapability,
    capability_mismatch,
    decode_capability,
)
from tpf.transports.workers.remote.contracts import (
    MalformedRequest,
    TransportFailure,
    WorkerTransport,
)
from tpf.transports.workers.remote.envelopes import decode_result, encode_command
from tpf.transports.workers.validators import UNCHECKED, ContractTypesValidator

__all__ = ["TRANSPORT_FAILURE_CLASS", "CapabilityCache", "RemoteWorker", "transport_failure"]

Identity = tuple[str, str, str]
CapabilitySource = Callable[[], Awaitable[bytes]]
TRANSPORT_FAILURE_CLASS = f"{TransportFailure.__module__}.{TransportFailure.__qualname__}"
DEFAULT_CAPABILITY_TTL_MS = 5_000
_LABELS = {"rest": "REST", "grpc": "gRPC", "sqs": "SQS"}


def label(protocol: str) -> str:
    """How the original names a protocol in messages (``REST``, ``gRPC``, ``SQS``)."""
    return _LABELS.get(protocol, protocol)


def transport_failure(protocol: str, category: str, message: str) -> TransitionResult:
    """The retryable ``FAILED`` result of a call that got no valid reply."""
    return TransitionResult(
        outcome=TransitionOutcome.FAILED,
        failure=TransitionFailure(
            failure_class=TRANSPORT_FAILURE_CLASS,
            message=f"{label(protocol)} transition worker {category}: {message}",
            retryable=True,
            error_code=f"TRANSITION_WORKER_{category.upper()}",
        ),
    )


class CapabilityCache:
    """A worker's last capability answer, kept ``ttl_ms``; concurrent askers share one fetch.
    Failures are not kept: the next ask tries again."""

    def __init__(
        self, fetch: CapabilitySource, clock: Clock, ttl_ms: int = DEFAULT_CAPABILITY_TTL_MS
    ) -> None:
        self._fetch = fetch
        self._clock = clock
        self._ttl_ms = ttl_ms
        self._value: PipelineWorkerCapability | None = None
        self._expires_ms = 0
        self._pending: asyncio.Future[PipelineWorkerCapability] | None = None

    def invalidate(self) -> None:
        self._value = None

    async def get(self) -> PipelineWorkerCapability:
        """The capability; :class:`TransportFailure` when the worker does not give a valid one."""
        if self._value is not None and self._expires_ms > self._clock.now_ms():
            return self._value
        pending = self._pending
        if pending is None:
            pending = self._pending = asyncio.ensure_future(self._fetch_once())
            pending.add_done_callback(self._fetched)
        return await asyncio.shield(pending)

    def _fetched(self, future: asyncio.Future[PipelineWorkerCapability]) -> None:
        if self._pending is future:
            self._pending = None
        if not future.cancelled():
            future.exception()  # retrieved: an asker that gave up leaves no warning behind

    async def _fetch_once(self) -> PipelineWorkerCapability:
        raw = await self._fetch()
        try:
            capability = decode_capability(raw)
        except MalformedRequest as exc:
            raise TransportFailure("malformed", str(exc)) from None
        self._value = capability
        self._expires_ms = self._clock.now_ms() + self._ttl_ms
        return capability


class RemoteWorker:
    """Runs transitions of one identity on a remote worker reached through ``transport``.

    ``owns_transport`` is false for the coordinator's configured target, whose one transport
    every identity it serves shares (it is closed with the coordinator, not with a worker).
    """

    def __init__(
        self,
        transport: WorkerTransport,
        identity: Identity,
        *,
        clock: Clock,
        contract: PipelineContract | None = None,
        request_timeout_s: float = 30.0,
        capabilities: CapabilityCache | None = None,
        owns_transport: bool = True,
    ) -> None:
        self.protocol = transport.protocol
        self._transport = transport
        self._identity = identity
        self._timeout_s = request_timeout_s
        self._owns_transport = owns_transport
        self._validator: ContractValidator = (
            UNCHECKED if contract is None else ContractTypesValidator(contract)
        )
        self.capabilities = capabilities or CapabilityCache(
            lambda: transport.capabilities(request_timeout_s), clock
        )
        self._running: dict[tuple[str, str], asyncio.Task[Any]] = {}

    @property
    def identity(self) -> Identity:
        return self._identity

    @property
    def code_digest(self) -> str | None:
        return None  # the worker's code is known by its capability's artifact, not a digest here

    @property
    def validator(self) -> ContractValidator:
        return self._validator

    async def start(self) -> None:
        if self._owns_transport:
            await self._transport.start()

    async def aclose(self) -> None:
        for task in list(self._running.values()):
            task.cancel()
        self._running.clear()
        if self._owns_transport:
            await self._transport.aclose()

    async def cancel(self, tenant_id: str, execution_id: str) -> None:
        task = self._running.get((tenant_id, execution_id))
        if task is not None and not task.done():
            task.cancel()

    async def execute(self, command: TransitionCommand) -> TransitionResult:
        key = (command.tenant_id, command.execution_id)
        task = asyncio.current_task()
        if task is not None:
            self._running[key] = task  # so a lost lease stops the wait at once
        try:
            return await self._call(command)
        finally:
            if task is not None and self._running.get(key) is task:
                del self._running[key]

    async def _call(self, command: TransitionCommand) -> TransitionResult:
        body = encode_command(command)
        try:
            # The transport enforces the timeout too; this bounds one that does not.
            async with asyncio.timeout(self._timeout_s):
                raw = await self._transport.execute(body, self._timeout_s)
            return decode_result(raw)
        except TransportFailure as exc:
            return transport_failure(self.protocol, exc.category, str(exc))
        except TimeoutError:
            return transport_failure(
                self.protocol, "timeout", f"no reply within {self._timeout_s:g} s"
            )
        except MalformedRequest as exc:
            return transport_failure(self.protocol, "malformed", str(exc))

    async def availability(self, release: ReleaseRecord) -> str | None:
        """Why this worker cannot run ``release`` now (its capability does not match, or could
        not be read); ``None`` if it can."""
        try:
            capability = await self.capabilities.get()
        except TransportFailure as exc:
            return f"{label(self.protocol)} transition worker capability check failed: {exc}"
        return capability_mismatch(
            capability,
            (release.pipeline_id, release.contract_version, release.release_version),
            artifact_id=release.primary_artifact_id,
            artifact_digest=release.primary_artifact_digest,
        )
