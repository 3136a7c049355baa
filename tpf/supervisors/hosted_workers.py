"""Lifecycle records of the pipeline code this coordinator hosts, kept fresh by the coordinator.

Admission accepts a submission only while a ``HEALTHY`` worker lifecycle record exists for the
tenant's active release (spec §6.3), and a record turns ``STALE`` when it has not heartbeated
for ``worker.lifecycle.stale-after``. A coordinator that hosts a release's code
(:meth:`tpf.coordinator.Coordinator.host`, ``tpf serve --pipeline``) is that release's worker,
so it registers and heartbeats the records itself instead of leaving it to an operator: one
record per ``(tenant, pipeline)`` for every tenant that has a release of a hosted identity.

How the tenants are learned (worker records are per tenant and pipeline):

- releases registered or activated through this coordinator, at once;
- every submission admission checks (the tenant's active release is hosted here), before the
  lifecycle check, so a coordinator sharing a registry it cannot list (DynamoDB: partitioned by
  tenant and pipeline, and a table scan is not an option) announces itself on the first submit;
- on every pass, the release registry itself when it can answer across tenants
  (:class:`tpf.stores.base.ReleaseCatalog`: the memory and file registries), so a restarted
  one-process coordinator re-registers before anyone submits.

The worker id is ``{instance}@{releaseVersion}`` where the instance is ``host:port`` of this
coordinator (``tpf serve --port``): stable across restarts of the same coordinator, distinct
for coordinators sharing one host and one DynamoDB, so one coordinator's drain on shutdown
never drains a record another one heartbeats. :meth:`tick` (a supervisor pass, driven by tests
with a fake clock) registers what is new and heartbeats at a quarter of ``stale-after``;
:meth:`drain` on clean shutdown drains every record this coordinator registered (a restart
registers again, which clears the drain). With ``stale-after <= 0`` staleness is off and only
registrations are written.

A ``tpf worker`` process keeps its records the same way (:mod:`tpf.worker`): its commands go to
the coordinator's admin API, it has no release registry (``releases=None``) and it is told its
tenants (:meth:`HostedWorkers.announce`).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Protocol

from tpf.core.clock import Clock
from tpf.core.errors import NotFound
from tpf.core.records import ReleaseRecord, WorkerRecord
from tpf.stores.base import ReleaseCatalog, ReleaseStore
from tpf.transports.workers.local import LocalTransitionWorker

LOG = logging.getLogger("tpf.workers.hosted")
Identity = tuple[str, str, str]  # (pipelineId, contractVersion, releaseVersion)
HEARTBEATS_PER_STALE_AFTER = 4
# Without staleness there is nothing to keep fresh; a pass still picks up new tenants.
_IDLE_INTERVAL_S = 30.0
_MIN_INTERVAL_S = 0.05


class WorkerCommands(Protocol):
    """The worker lifecycle commands of the coordinator (:class:`tpf.engine.registry_commands`)."""

    async def register_local_worker(
        self, tenant_id: str, worker: LocalTransitionWorker, worker_id: str
    ) -> WorkerRecord: ...

    async def heartbeat_worker(
        self, tenant_id: str, pipeline_id: str, worker_id: str
    ) -> WorkerRecord: ...

    async def drain_worker(
        self, tenant_id: str, pipeline_id: str, worker_id: str
    ) -> WorkerRecord: ...


@dataclass
class _Announced:
    worker: LocalTransitionWorker
    worker_id: str
    registered: bool = False
    last_beat_ms: int = 0


class HostedWorkers:
    def __init__(
        self,
        commands: WorkerCommands,
        releases: ReleaseStore | None,
        clock: Clock,
        *,
        instance: str,
        stale_after_ms: int,
    ) -> None:
        self._commands = commands
        self._releases = releases
        self._clock = clock
        self._instance = instance
        self._stale_after_ms = stale_after_ms
        self._hosted: dict[Identity, LocalTransitionWorker] = {}
        self._announced: dict[tuple[str, Identity], _Announced] = {}
        self._lock = asyncio.Lock()

    @property
    def heartbeat_ms(self) -> int:
        """How often a record is heartbeated (0: staleness is off, never)."""
        if self._stale_after_ms <= 0:
            return 0
        return max(1, self._stale_after_ms // HEARTBEATS_PER_STALE_AFTER)

    @property
    def interval_s(self) -> float:
        beat = self.heartbeat_ms
        return _IDLE_INTERVAL_S if beat == 0 else max(_MIN_INTERVAL_S, beat / 1000.0)

    @property
    def pending(self) -> int:
        """Records known but not registered (not yet, or their registration failed)."""
        return sum(1 for entry in self._announced.values() if not entry.registered)

    def worker_id(self, identity: Identity) -> str:
        """The id of this coordinator's record for ``identity`` (same after a restart)."""
        return f"{self._instance}@{identity[2]}"

    def host(self, worker: LocalTransitionWorker) -> None:
        self._hosted[worker.identity] = worker

    def pipelines(self) -> set[tuple[str, str]]:
        """``(tenant, pipeline)`` of every record this coordinator keeps (for metrics)."""
        return {(tenant_id, identity[0]) for tenant_id, identity in self._announced}

    def announce(self, tenant_id: str, worker: LocalTransitionWorker) -> None:
        """Keep a record of ``worker`` for ``tenant_id`` (written by the next :meth:`tick`),
        without knowing a release of it: a worker process is told its tenants."""
        self.host(worker)
        self._entry(tenant_id, worker.identity, worker)

    async def learn(self, tenant_id: str, release: ReleaseRecord) -> None:
        """``tenant_id`` has ``release``: if this coordinator hosts it, register its record now.

        Never raises: a failed registration is logged and retried by the next :meth:`tick`.
        """
        identity = (release.pipeline_id, release.contract_version, release.release_version)
        worker = self._hosted.get(identity)
        if worker is None:
            return
        entry = self._announced.get((tenant_id, identity))
        if entry is not None and entry.registered:
            return  # the hot path of every admission check: no I/O
        async with self._lock:
            entry = self._entry(tenant_id, identity, worker)
            if not entry.registered:
                await self._register(tenant_id, entry)

    async def tick(self) -> int:
        """Register records for new tenants, heartbeat the due ones; the number written."""
        async with self._lock:
            await self._discover()
            now = self._clock.now_ms()
            beat = self.heartbeat_ms
            written = 0
            for (tenant_id, _), entry in list(self._announced.items()):
                if not entry.registered:
                    written += await self._register(tenant_id, entry)
                # Half a period of slack: a loop that wakes a little early still beats in time.
                elif beat and now - entry.last_beat_ms >= beat // 2:
                    written += await self._heartbeat(tenant_id, entry, now)
            return written

    async def drain(self) -> int:
        """Drain every record this coordinator registered (clean shutdown); the number drained."""
        async with self._lock:
            drained = 0
            for (tenant_id, identity), entry in self._announced.items():
                if not entry.registered:
                    continue
                try:
                    await self._commands.drain_worker(tenant_id, identity[0], entry.worker_id)
                except Exception as exc:  # best effort: an undrained record just goes stale
                    LOG.warning(
                        "could not drain worker %s of %s: %s", entry.worker_id, tenant_id, exc
                    )
                    continue
                entry.registered = False
                drained += 1
                LOG.info("drained worker %s of tenant %s", entry.worker_id, tenant_id)
            return drained

    # ------------------------------------------------------------------ internals

    def _entry(
        self, tenant_id: str, identity: Identity, worker: LocalTransitionWorker
    ) -> _Announced:
        key = (tenant_id, identity)
        entry = self._announced.get(key)
        if entry is None:
            entry = self._announced[key] = _Announced(worker, self.worker_id(identity))
        return entry

    async def _discover(self) -> None:
        if not isinstance(self._releases, ReleaseCatalog):
            return  # learned from registrations and admissions instead
        for identity, worker in self._hosted.items():
            pipeline_id, contract_version, release_version = identity
            for release in await self._releases.tenant_releases(pipeline_id, release_version):
                if release.contract_version == contract_version:
                    self._entry(release.tenant_id, identity, worker)

    async def _register(self, tenant_id: str, entry: _Announced) -> int:
        try:
            record = await self._commands.register_local_worker(
                tenant_id, entry.worker, entry.worker_id
            )
        except Exception as exc:
            LOG.warning("could not register worker %s of %s: %s", entry.worker_id, tenant_id, exc)
            return 0
        entry.registered = True
        # On our clock, not the record's: a worker process's clock may differ from the
        # coordinator's that stamped it, and the schedule must not drift by the difference.
        entry.last_beat_ms = self._clock.now_ms()
        LOG.info(
            "registered worker %s for tenant %s, pipeline %s",
            entry.worker_id,
            tenant_id,
            record.pipeline_id,
        )
        return 1

    async def _heartbeat(self, tenant_id: str, entry: _Announced, now: int) -> int:
        pipeline_id = entry.worker.identity[0]
        try:
            await self._commands.heartbeat_worker(tenant_id, pipeline_id, entry.worker_id)
        except NotFound:  # the record is gone (a wiped store): announce it again
            entry.registered = False
            return await self._register(tenant_id, entry)
        except Exception as exc:  # retried next pass; the record only goes stale if this lasts
            LOG.warning("could not heartbeat worker %s of %s: %s", entry.worker_id, tenant_id, exc)
            return 0
        entry.last_beat_ms = now
        return 1
