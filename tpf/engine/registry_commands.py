"""Release and worker-lifecycle commands of the coordinator (a part of :class:`Coordinator`).

Registering and activating releases and recording worker events are commands, so they go to
the registry actor of their ``(tenant, pipeline)`` as messages; listings read the stores.
Worker states are derived at read time from the lifecycle record and the staleness setting.
A release registered or activated here that this coordinator hosts gets its worker record at
once (:mod:`tpf.supervisors.hosted_workers`).
"""

from __future__ import annotations

import msgspec

from tpf.actors.context import Engine
from tpf.actors.messages import ActivateRelease, RecordWorkerEvent, RegisterRelease
from tpf.actors.registry import REGISTRY
from tpf.actors.runtime import ActorSystem
from tpf.config.settings import Settings
from tpf.core.clock import Clock
from tpf.core.errors import NotFound
from tpf.core.records import ReleaseRecord, WorkerEvent, WorkerEventType, WorkerRecord
from tpf.engine.admission import effective_state
from tpf.stores.base import StoreSet
from tpf.supervisors.hosted_workers import HostedWorkers
from tpf.transports.workers.local import LocalTransitionWorker


class RegistryCommands:
    settings: Settings
    stores: StoreSet
    clock: Clock
    system: ActorSystem
    hosted: HostedWorkers
    engine: Engine

    @property
    def ask_timeout_s(self) -> float:
        return self.settings.execution.ask_timeout_ms / 1000.0

    async def register_release(
        self, tenant_id: str, pipeline_id: str, descriptor_path: str
    ) -> ReleaseRecord:
        record = await self.system.ask(
            REGISTRY,
            (tenant_id, pipeline_id),
            RegisterRelease(descriptor_path),
            timeout_s=self.ask_timeout_s,
        )
        self.engine.metrics.learn(tenant_id, pipeline_id)
        await self.hosted.learn(tenant_id, record)
        return record

    async def activate_release(
        self, tenant_id: str, pipeline_id: str, release_version: str
    ) -> ReleaseRecord:
        record = await self.system.ask(
            REGISTRY,
            (tenant_id, pipeline_id),
            ActivateRelease(release_version),
            timeout_s=self.ask_timeout_s,
        )
        self.engine.metrics.release_activated(tenant_id, pipeline_id)
        await self.hosted.learn(tenant_id, record)
        return record

    async def active_release(self, tenant_id: str, pipeline_id: str) -> ReleaseRecord:
        record = await self.stores.releases.active(tenant_id, pipeline_id)
        if record is None:
            raise NotFound(f"No active release for pipeline {pipeline_id}")
        return record

    async def worker_event(self, event: WorkerEvent) -> WorkerRecord:
        record = await self.system.ask(
            REGISTRY,
            (event.tenant_id, event.pipeline_id),
            RecordWorkerEvent(event),
            timeout_s=self.ask_timeout_s,
        )
        self.engine.metrics.learn(event.tenant_id, event.pipeline_id)
        return self._with_state(record)

    async def register_worker(
        self,
        tenant_id: str,
        pipeline_id: str,
        worker_id: str,
        *,
        contract_version: str,
        release_version: str,
        protocol: str,
        endpoint: str = "",
        artifact_id: str = "",
        artifact_digest: str = "",
    ) -> WorkerRecord:
        return await self.worker_event(
            WorkerEvent(
                tenant_id=tenant_id,
                pipeline_id=pipeline_id,
                worker_id=worker_id.strip(),
                event_type=WorkerEventType.REGISTER,
                at_epoch_ms=self.clock.now_ms(),
                contract_version=contract_version.strip(),
                release_version=release_version.strip(),
                protocol=protocol.strip().lower(),
                endpoint=endpoint.strip(),
                artifact_id=artifact_id.strip(),
                artifact_digest=artifact_digest.strip(),
            )
        )

    async def register_local_worker(
        self, tenant_id: str, worker: LocalTransitionWorker, worker_id: str
    ) -> WorkerRecord:
        """Record a lifecycle entry for a worker this process hosts. Its artifact identity is
        the configured one (``worker.artifact-id`` / ``-digest``, which admission then checks
        against the active release, as the original's workers advertise theirs), else that of
        its registered release when there is one."""
        pipeline_id, contract_version, release_version = worker.identity
        release = await self.stores.releases.get(tenant_id, pipeline_id, release_version)
        s = self.settings
        return await self.register_worker(
            tenant_id,
            pipeline_id,
            worker_id,
            contract_version=contract_version,
            release_version=release_version,
            protocol=worker.protocol,
            endpoint="in-process",
            artifact_id=s.workers.artifact_id or (release.primary_artifact_id if release else ""),
            artifact_digest=s.workers.artifact_digest
            or (release.primary_artifact_digest if release else ""),
        )

    async def heartbeat_worker(
        self, tenant_id: str, pipeline_id: str, worker_id: str
    ) -> WorkerRecord:
        return await self._simple_worker_event(
            tenant_id, pipeline_id, worker_id, WorkerEventType.HEARTBEAT
        )

    async def drain_worker(self, tenant_id: str, pipeline_id: str, worker_id: str) -> WorkerRecord:
        return await self._simple_worker_event(
            tenant_id, pipeline_id, worker_id, WorkerEventType.DRAIN
        )

    async def _simple_worker_event(
        self, tenant_id: str, pipeline_id: str, worker_id: str, kind: WorkerEventType
    ) -> WorkerRecord:
        return await self.worker_event(
            WorkerEvent(
                tenant_id=tenant_id,
                pipeline_id=pipeline_id,
                worker_id=worker_id,
                event_type=kind,
                at_epoch_ms=self.clock.now_ms(),
            )
        )

    async def list_workers(self, tenant_id: str, pipeline_id: str) -> list[WorkerRecord]:
        return [self._with_state(r) for r in await self.stores.workers.list(tenant_id, pipeline_id)]

    def _with_state(self, record: WorkerRecord) -> WorkerRecord:
        state = effective_state(record, self.clock.now_ms(), self.settings.workers.stale_after_ms)
        return msgspec.structs.replace(record, state=state)

    async def list_releases(self, tenant_id: str, pipeline_id: str) -> list[ReleaseRecord]:
        """Every release of the pipeline, oldest first."""
        releases = await self.stores.releases.list(tenant_id, pipeline_id)
        return sorted(releases, key=lambda r: r.created_at_epoch_ms)

    async def get_release(
        self, tenant_id: str, pipeline_id: str, release_version: str
    ) -> ReleaseRecord:
        record = await self.stores.releases.get(tenant_id, pipeline_id, release_version)
        if record is None:
            raise NotFound(f"Release not found: {release_version} of pipeline {pipeline_id}")
        return record
