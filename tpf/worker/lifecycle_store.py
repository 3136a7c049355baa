"""A worker process's lifecycle records, written straight to the shared lifecycle store.

The alternative to the admin API (:mod:`tpf.worker.announce`) when the coordinators keep worker
lifecycle in DynamoDB (``worker.lifecycle.provider=dynamo``, the recipe's durable shape): the
worker appends its own ``REGISTER``, ``HEARTBEAT`` and ``DRAIN`` events to the same table, with
the same schedule (:class:`~tpf.supervisors.hosted_workers.HostedWorkers`), and needs no admin
token, only its AWS credentials. Only DynamoDB qualifies: a SQLite lifecycle store is inside its
coordinator's state file, which that coordinator holds locked, and a memory one is per process.

A heartbeat or drain of a record that is gone is :class:`NotFound`, as from the admin API, so
the schedule registers it again.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable

from tpf.aws.clients import AwsClients
from tpf.config.providers import ClosingStack, OpenContext
from tpf.config.settings import Settings
from tpf.core.clock import Clock
from tpf.core.errors import ConfigError, NotFound
from tpf.core.records import WorkerEvent, WorkerEventType, WorkerRecord
from tpf.stores.base import WorkerStore
from tpf.stores.providers import WORKER_LIFECYCLE
from tpf.transports.workers.local import LocalTransitionWorker
from tpf.worker.announce import Registration

__all__ = ["StoreCommands", "open_lifecycle_store"]


async def open_lifecycle_store(
    settings: Settings, clock: Clock, stack: contextlib.AsyncExitStack
) -> WorkerStore:
    """The ``dynamo`` lifecycle store ``settings`` name, its AWS clients closed by ``stack``;
    :class:`ConfigError` for any other provider."""
    provider = settings.workers.lifecycle_provider
    if provider != "dynamo":
        raise ConfigError(
            "--lifecycle-store writes the worker's records to a lifecycle store the "
            "coordinators share: pipeline.orchestrator.worker.lifecycle.provider must be dynamo, "
            f"not {provider} (or register through the admin API: --tenant without it)"
        )
    aws = AwsClients(settings)
    stack.push_async_callback(aws.close)
    opened = ClosingStack()
    stack.push_async_callback(opened.aclose)
    return await WORKER_LIFECYCLE.open(OpenContext(settings, clock, aws, opened))


class StoreCommands:
    """The :class:`~tpf.supervisors.hosted_workers.WorkerCommands` of a worker process, as
    events appended to the shared lifecycle store."""

    def __init__(
        self,
        store: WorkerStore,
        registration: Registration,
        clock: Clock,
        *,
        on_registered: Callable[[WorkerRecord], None] | None = None,
    ) -> None:
        self._store = store
        self._registration = registration
        self._clock = clock
        self._on_registered = on_registered

    async def register_local_worker(
        self, tenant_id: str, worker: LocalTransitionWorker, worker_id: str
    ) -> WorkerRecord:
        pipeline_id, contract_version, release_version = worker.identity
        r = self._registration
        record = await self._append(
            WorkerEvent(
                tenant_id=tenant_id,
                pipeline_id=pipeline_id,
                worker_id=worker_id,
                event_type=WorkerEventType.REGISTER,
                at_epoch_ms=self._clock.now_ms(),
                contract_version=contract_version,
                release_version=release_version,
                protocol=r.protocol,
                endpoint=r.endpoint,
                artifact_id=r.artifact_id,
                artifact_digest=r.artifact_digest,
            )
        )
        if self._on_registered is not None:
            self._on_registered(record)
        return record

    async def heartbeat_worker(
        self, tenant_id: str, pipeline_id: str, worker_id: str
    ) -> WorkerRecord:
        return await self._event(tenant_id, pipeline_id, worker_id, WorkerEventType.HEARTBEAT)

    async def drain_worker(self, tenant_id: str, pipeline_id: str, worker_id: str) -> WorkerRecord:
        return await self._event(tenant_id, pipeline_id, worker_id, WorkerEventType.DRAIN)

    async def _event(
        self, tenant_id: str, pipeline_id: str, worker_id: str, kind: WorkerEventType
    ) -> WorkerRecord:
        return await self._append(
            WorkerEvent(
                tenant_id=tenant_id,
                pipeline_id=pipeline_id,
                worker_id=worker_id,
                event_type=kind,
                at_epoch_ms=self._clock.now_ms(),
            )
        )

    async def _append(self, event: WorkerEvent) -> WorkerRecord:
        record = await self._store.append(event)
        if record is None:
            raise NotFound(f"Worker not found: {event.worker_id}")
        return record
