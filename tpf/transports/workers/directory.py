"""The worker directory: which transition worker runs an execution's pinned identity.

An identity is ``(pipelineId, contractVersion, releaseVersion)``. The directory resolves it to
a worker client:

- a worker hosted in this process (``add``: the local worker, code imported here), or
- a :class:`~tpf.transports.workers.pool.WorkerPool` over the registered worker lifecycle
  records naming the identity: one client per record endpoint, each built on demand by the
  factory of the record's protocol (the worker-protocol provider table: REST, gRPC, SQS; a
  test registers a fake one). The pool picks a client per transition: a worker that just
  failed a call is avoided (the retry goes to another replica), and one that is not draining
  is preferred; a draining one is still used, because a drained worker keeps running the
  executions pinned to its release until they finish (the recipe's upgrade runbook), or
- the coordinator's configured remote worker target (``target``), when no record leads to a
  client and the target serves the identity.

Clients are cached and owned by the directory; building one is serialized per identity, so
concurrent resolves share it. A client is handed the release's contract (read once per
identity from the release registry, when the directory has one), from which a remote worker
checks client input.

It also answers, per identity, how client input is checked (:meth:`validator`), so the engine
validates submits and completions without knowing whether the code runs here. Workers can be
removed; ``aclose`` closes every worker it knows, in reverse order of their arrival.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec

from tpf.core.clock import Clock, SystemClock
from tpf.core.records import (
    AwaitInteraction,
    PipelineContract,
    TransitionFailure,
    TransitionOutcome,
    TransitionResult,
    WorkerRecord,
)
from tpf.stores.base import ReleaseStore, WorkerStore
from tpf.transports.base import ContractValidator, TransitionWorker
from tpf.transports.workers.pool import WorkerPool
from tpf.transports.workers.validators import UNCHECKED

LOG = logging.getLogger("tpf.workers")
Identity = tuple[str, str, str]
# Builds the client of one protocol for an identity, from the worker's lifecycle record and the
# release's contract (when known); ``None`` when the record gives no way to reach the worker.
ClientFactory = Callable[
    [Identity, WorkerRecord, PipelineContract | None], Awaitable[TransitionWorker | None]
]
# The configured target's client for an identity, ``None`` when the target does not serve it.
TargetLookup = Callable[[Identity, PipelineContract | None], Awaitable[TransitionWorker | None]]
# The client factory of a protocol name, or None when no provider entry builds that protocol.
ProtocolLookup = Callable[[str], ClientFactory | None]


def _no_protocols(_protocol: str) -> ClientFactory | None:
    return None


class WorkerDirectory:
    def __init__(
        self,
        records: WorkerStore | None = None,
        protocols: ProtocolLookup = _no_protocols,
        *,
        releases: ReleaseStore | None = None,
        target: TargetLookup | None = None,
        clock: Clock | None = None,
        stale_after_ms: int = 0,
    ) -> None:
        """``clock`` and ``stale_after_ms`` (``worker.lifecycle.stale-after``) are the pools':
        which records look healthy now."""
        self._records = records
        self._clock = clock or SystemClock()
        self._stale_after_ms = stale_after_ms
        self._protocols = protocols
        self._releases = releases
        self._target = target
        self._workers: dict[Identity, TransitionWorker] = {}
        self._building: dict[Identity, asyncio.Lock] = {}
        self._contracts: dict[Identity, PipelineContract] = {}

    def add(self, worker: TransitionWorker) -> None:
        """Serve ``worker.identity`` by ``worker`` (replacing any worker known for it)."""
        self._workers.pop(worker.identity, None)
        self._workers[worker.identity] = worker  # re-inserted: arrival order is close order

    def remove(self, identity: Identity) -> TransitionWorker | None:
        """Stop serving ``identity``; the removed worker (the caller closes it if it owns it)."""
        return self._workers.pop(identity, None)

    def get(self, identity: Identity) -> TransitionWorker | None:
        """The worker known for ``identity`` now (hosted here, or a client resolved before)."""
        return self._workers.get(identity)

    def all(self) -> list[TransitionWorker]:
        return list(self._workers.values())

    async def resolve(self, tenant_id: str, identity: Identity) -> TransitionWorker | None:
        """The worker for ``identity``: a known one, else a client for a registered worker of a
        protocol some provider builds, else the configured target's; ``None`` if nothing can
        run it."""
        worker = self._workers.get(identity)
        if worker is not None or (self._records is None and self._target is None):
            return worker
        lock = self._building.setdefault(identity, asyncio.Lock())
        async with lock:  # one build per identity: a concurrent resolve waits and shares it
            worker = self._workers.get(identity)
            if worker is None:
                try:
                    worker = await self._build(tenant_id, identity)
                    if worker is not None:
                        await worker.start()
                except Exception as exc:  # e.g. a protocol without its secret: no worker, say why
                    LOG.warning("cannot build a worker client for %s: %s", identity, exc)
                    return None
                if worker is not None:
                    self._workers[identity] = worker
            return worker

    async def _build(self, tenant_id: str, identity: Identity) -> TransitionWorker | None:
        pipeline_id, contract_version, release_version = identity
        records = [] if self._records is None else await self._records.list(tenant_id, pipeline_id)
        matching = [
            r
            for r in records
            if (r.contract_version, r.release_version) == (contract_version, release_version)
        ]
        # Healthy-looking records first; a draining worker still runs its pinned executions.
        matching.sort(key=lambda r: r.draining_since_epoch_ms > 0)
        for record in matching:
            protocol = record.protocol.lower()
            factory = self._protocols(protocol)
            if factory is None:
                continue
            contract = await self._contract(tenant_id, identity)
            worker = await factory(identity, record, contract)
            if worker is not None:
                LOG.info(
                    "worker client %s for %s from record %s",
                    worker.protocol,
                    identity,
                    record.worker_id,
                )
                assert self._records is not None  # records were listed
                return WorkerPool(
                    identity,
                    protocol,
                    (record, worker),
                    records=self._records,
                    build=_member_builder(factory, identity, contract),
                    clock=self._clock,
                    stale_after_ms=self._stale_after_ms,
                )
        if self._target is None:
            return None
        worker = await self._target(identity, await self._contract(tenant_id, identity))
        if worker is not None:
            LOG.info("worker client %s for %s: the configured target", worker.protocol, identity)
        return worker

    async def _contract(self, tenant_id: str, identity: Identity) -> PipelineContract | None:
        """The contract of the release ``identity`` names (``None`` when it is not known)."""
        known = self._contracts.get(identity)
        if known is not None or self._releases is None:
            return known
        pipeline_id, contract_version, release_version = identity
        release = await self._releases.get(tenant_id, pipeline_id, release_version)
        if release is None or release.contract is None:
            return None
        if release.contract_version != contract_version:
            return None
        try:
            contract = msgspec.convert(release.contract, PipelineContract)
        except msgspec.ValidationError as exc:
            LOG.warning("release %s has an unreadable contract: %s", identity, exc)
            return None
        self._contracts[identity] = contract
        return contract

    def validator(self, identity: Identity) -> ContractValidator:
        """How input for ``identity`` is checked (unchecked when no worker is known for it)."""
        worker = self._workers.get(identity)
        return UNCHECKED if worker is None else worker.validator

    def validate_response(self, interaction: AwaitInteraction, response: Any) -> Any:
        """``response`` if it fits the await's output type, else ``ValidationError``.

        Checked by the validator of the code the await belongs to when a known worker covers
        it; a response for code known nowhere here is passed on unchecked (the next step's
        input decoding still checks its shape).
        """
        for worker in self._workers.values():
            validator = worker.validator
            if validator.covers(interaction):
                return validator.validate_response(interaction, response)
        return response

    async def start(self) -> None:
        for worker in list(self._workers.values()):
            await worker.start()

    async def aclose(self) -> None:
        """Close every known worker, the last to arrive first; one failing does not keep the
        others open."""
        workers, self._workers = list(self._workers.values()), {}
        for worker in reversed(workers):
            try:
                await worker.aclose()
            except Exception:
                LOG.exception("closing worker %s failed", worker.identity)


def _member_builder(
    factory: ClientFactory, identity: Identity, contract: PipelineContract | None
) -> Callable[[WorkerRecord], Awaitable[TransitionWorker | None]]:
    async def build(record: WorkerRecord) -> TransitionWorker | None:
        return await factory(identity, record, contract)

    return build


def no_worker_result(identity: Identity) -> TransitionResult:
    pid, cv, rv = identity
    return TransitionResult(
        outcome=TransitionOutcome.FAILED,
        failure=TransitionFailure(
            failure_class="tpf.errors.Unavailable",
            message=(
                f"No transition worker hosts pipelineId={pid}, contractVersion={cv}, "
                f"releaseVersion={rv}"
            ),
            retryable=True,
            error_code="NO_TRANSITION_WORKER",
        ),
    )
