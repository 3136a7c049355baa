"""Submit admission: an execution is accepted only if it can run (spec §6.3).

A submission needs an active release for its tenant and pipeline, whose stored artifact still
verifies, a transition worker the worker directory resolves for exactly that release (hosted in
this process, or a client for a registered worker of a protocol a provider builds; and, when
the release states the digest of the code it was built from, hosting that code; a remote worker
whose capability names that release and agrees on its artifact), and a ``HEALTHY`` lifecycle
record for such a worker. Only new submissions are gated; resumes, retries and
re-drives of pinned executions are not. Positive answers are cached briefly (the original
re-hashes the artifact and calls the worker on every submit); any release or worker change made
through this coordinator drops the cache at once.

A coordinator that hosts the release registers and heartbeats its own lifecycle record
(:mod:`tpf.supervisors.hosted_workers`); admission tells it about the tenant before looking at the
records, so the first submission of a tenant it has not seen yet finds that record. Every
refusal says what would make the submission admissible.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from tpf.authoring.code import hosted_code_mismatch
from tpf.core.clock import Clock
from tpf.core.errors import Conflict, Unavailable
from tpf.core.records import ReleaseRecord, WorkerRecord, WorkerState
from tpf.engine.releases import ReleaseRegistrar
from tpf.stores.base import StoreSet
from tpf.transports.workers.directory import WorkerDirectory
from tpf.transports.workers.pool import WorkerPool
from tpf.transports.workers.remote.client import RemoteWorker


def effective_state(record: WorkerRecord, now_ms: int, stale_after_ms: int) -> WorkerState:
    """DRAINING once drained; STALE when the last heartbeat is older than ``stale_after_ms``
    (``<= 0`` disables staleness); else HEALTHY."""
    if record.draining_since_epoch_ms > 0:
        return WorkerState.DRAINING
    if stale_after_ms > 0 and now_ms - record.last_heartbeat_at_epoch_ms > stale_after_ms:
        return WorkerState.STALE
    return WorkerState.HEALTHY


def _artifact_compatible(worker: WorkerRecord, release: ReleaseRecord) -> bool:
    # Artifact identity only has to agree where both sides state it.
    id_clash = bool(worker.artifact_id and release.primary_artifact_id) and (
        worker.artifact_id != release.primary_artifact_id
    )
    digest_clash = bool(worker.artifact_digest and release.primary_artifact_digest) and (
        worker.artifact_digest != release.primary_artifact_digest
    )
    return not (id_clash or digest_clash)


class Admission:
    def __init__(
        self,
        stores: StoreSet,
        registrar: ReleaseRegistrar,
        workers: WorkerDirectory,
        clock: Clock,
        *,
        stale_after_ms: int,
        cache_ms: int = 1_000,
        on_hosted: Callable[[str, ReleaseRecord], Awaitable[None]] | None = None,
    ) -> None:
        self._stores = stores
        self._registrar = registrar
        self._workers = workers
        self._clock = clock
        self._stale_after_ms = stale_after_ms
        self._cache_ms = cache_ms
        self._on_hosted = on_hosted
        self._cache: dict[tuple[str, str], tuple[int, ReleaseRecord]] = {}
        self._checking: dict[tuple[str, str], asyncio.Future[ReleaseRecord]] = {}

    def invalidate(self) -> None:
        self._cache.clear()

    async def admit(self, tenant_id: str, pipeline_id: str) -> ReleaseRecord:
        """The active release new executions pin to, or an error saying why none can run."""
        key = (tenant_id, pipeline_id)
        cached = self._cache.get(key)
        if cached is not None and cached[0] > self._clock.now_ms():
            return cached[1]
        # Single flight: submissions arriving while the answer is being worked out share that
        # one check instead of each reading the registry and the workers again.
        pending = self._checking.get(key)
        if pending is None:
            pending = asyncio.ensure_future(self._check(tenant_id, pipeline_id))
            self._checking[key] = pending
            pending.add_done_callback(lambda _: self._checking.pop(key, None))
        return await asyncio.shield(pending)

    async def _check(self, tenant_id: str, pipeline_id: str) -> ReleaseRecord:
        now = self._clock.now_ms()
        release = await self._stores.releases.active(tenant_id, pipeline_id)
        if release is None:
            raise Conflict(
                "No active release is registered for the requested pipeline",
                code="NO_ACTIVE_RELEASE",
            )
        await self._registrar.verify(release)
        identity = (pipeline_id, release.contract_version, release.release_version)
        worker = await self._workers.resolve(tenant_id, identity)
        if worker is None:
            raise Unavailable(
                "No worker available for active release: no transition worker in this "
                f"coordinator hosts pipelineId={pipeline_id}, "
                f"contractVersion={release.contract_version}, "
                f"releaseVersion={release.release_version}; start a coordinator hosting that "
                "release (tpf serve --pipeline MODULE:ATTR) or activate a release this one hosts",
                code="NO_WORKER",
            )
        # A release that names its code runs only on that code, whatever version it is hosted as.
        mismatch = hosted_code_mismatch(release, worker.code_digest)
        if mismatch is not None:
            raise Unavailable(
                f"No worker available for active release: {mismatch}", code="NO_WORKER"
            )
        if isinstance(worker, (RemoteWorker, WorkerPool)):
            # What the worker says it hosts, read through the client's short cache (the original
            # makes a signed live call on every submit).
            unavailable = await worker.availability(release)
            if unavailable is not None:
                raise Unavailable(
                    f"No worker available for active release: {unavailable}", code="NO_WORKER"
                )
        if self._on_hosted is not None:
            await self._on_hosted(tenant_id, release)  # registers this coordinator's record
        await self._check_lifecycle(tenant_id, pipeline_id, release, worker.protocol, now)
        self._cache[(tenant_id, pipeline_id)] = (now + self._cache_ms, release)
        return release

    async def _check_lifecycle(
        self, tenant_id: str, pipeline_id: str, release: ReleaseRecord, protocol: str, now: int
    ) -> None:
        records = await self._stores.workers.list(tenant_id, pipeline_id)
        matching = [
            r
            for r in records
            if r.protocol.lower() == protocol
            and r.contract_version == release.contract_version
            and r.release_version == release.release_version
        ]
        if not matching:
            raise Unavailable(
                "No worker available for active release: "
                "No worker lifecycle record for active release; register one "
                f"(tpf workers register --pipeline-id {pipeline_id} --worker-id ID "
                f"--contract-version {release.contract_version} "
                f"--release-version {release.release_version} --protocol {protocol})",
                code="NO_WORKER",
            )
        compatible = [r for r in matching if _artifact_compatible(r, release)]
        if not compatible:
            raise Unavailable(
                "No worker available for active release: "
                "Registered worker artifact identity does not match active release; "
                "re-register the worker with the active release's artifactId and artifactDigest",
                code="NO_WORKER",
            )
        states = {r.worker_id: effective_state(r, now, self._stale_after_ms) for r in compatible}
        if WorkerState.HEALTHY not in states.values():
            listing = ", ".join(f"{wid}={state.value}" for wid, state in sorted(states.items()))
            raise Unavailable(
                "No worker available for active release: "
                f"No healthy {protocol} worker lifecycle record for active release; "
                f"current states: {listing}; a coordinator hosting this release heartbeats its "
                "own record: check that one runs (tpf serve --pipeline MODULE:ATTR); for a worker "
                "you manage, send tpf workers heartbeat (STALE) or register it again (DRAINING)",
                code="NO_WORKER",
            )
