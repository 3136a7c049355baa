"""``MemoryReleaseStore``: immutable releases plus append-only activations, in memory.

The file registry (:mod:`tpf.stores.releases.file`) extends it with persistence.
"""

from __future__ import annotations

from msgspec.structs import replace

from tpf.core.errors import NotFound
from tpf.core.records import ReleaseRecord, ReleaseStatus
from tpf.stores.rules import ReleaseActivation, release_conflict

_Key = tuple[str, str]


class MemoryReleaseStore:
    """Immutable releases plus append-only activations; status is derived on every read.

    The synchronous ``_register``/``_activate`` cores are reused by the file registry, which only
    adds persistence around them.
    """

    def __init__(self) -> None:
        self._releases: dict[_Key, dict[str, ReleaseRecord]] = {}
        self._activations: list[ReleaseActivation] = []
        self._latest: dict[_Key, ReleaseActivation] = {}
        self._last_activated: dict[tuple[str, str, str], int] = {}

    def _derive(self, record: ReleaseRecord) -> ReleaseRecord:
        pipeline = (record.tenant_id, record.pipeline_id)
        latest = self._latest.get(pipeline)
        activated = self._last_activated.get((*pipeline, record.release_version), 0)
        active = latest is not None and latest.release_version == record.release_version
        return replace(
            record,
            status=ReleaseStatus.ACTIVE if active else ReleaseStatus.REGISTERED,
            activated_at_epoch_ms=activated,
            updated_at_epoch_ms=max(record.updated_at_epoch_ms, activated),
        )

    def _register(self, record: ReleaseRecord) -> tuple[ReleaseRecord, bool]:
        """``(stored, created)``; raises Conflict for different metadata under one version."""
        versions = self._releases.setdefault((record.tenant_id, record.pipeline_id), {})
        existing = versions.get(record.release_version)
        if existing is not None:
            conflict = release_conflict(existing, record)
            if conflict is not None:
                raise conflict
            return existing, False
        stored = replace(record, status=ReleaseStatus.REGISTERED, activated_at_epoch_ms=0)
        versions[record.release_version] = stored
        return stored, True

    def _unregister(self, record: ReleaseRecord) -> None:
        del self._releases[(record.tenant_id, record.pipeline_id)][record.release_version]

    def _apply_activation(self, event: ReleaseActivation) -> None:
        self._activations.append(event)
        self._latest[(event.tenant_id, event.pipeline_id)] = event
        key = (event.tenant_id, event.pipeline_id, event.release_version)
        self._last_activated[key] = event.at_epoch_ms

    def _rebuild_activation_indexes(self) -> None:
        events, self._activations = self._activations, []
        self._latest.clear()
        self._last_activated.clear()
        for event in events:
            self._apply_activation(event)

    def _activation_for(
        self, tenant_id: str, pipeline_id: str, release_version: str, now_ms: int
    ) -> ReleaseActivation:
        if release_version not in self._releases.get((tenant_id, pipeline_id), {}):
            raise NotFound(f"release {release_version} of pipeline {pipeline_id} is not registered")
        return ReleaseActivation(tenant_id, pipeline_id, release_version, now_ms)

    async def register(self, record: ReleaseRecord) -> ReleaseRecord:
        return self._derive(self._register(record)[0])

    async def get(
        self, tenant_id: str, pipeline_id: str, release_version: str
    ) -> ReleaseRecord | None:
        record = self._releases.get((tenant_id, pipeline_id), {}).get(release_version)
        return None if record is None else self._derive(record)

    async def tenant_releases(self, pipeline_id: str, release_version: str) -> list[ReleaseRecord]:
        """Release ``release_version`` of ``pipeline_id`` of every tenant that registered it
        (:class:`tpf.stores.base.ReleaseCatalog`), ordered by tenant."""
        found = [
            versions[release_version]
            for (_, pipeline), versions in self._releases.items()
            if pipeline == pipeline_id and release_version in versions
        ]
        return [self._derive(r) for r in sorted(found, key=lambda r: r.tenant_id)]

    async def list(self, tenant_id: str, pipeline_id: str) -> list[ReleaseRecord]:
        records = self._releases.get((tenant_id, pipeline_id), {}).values()
        # sorted() is stable: equal timestamps keep registration order.
        return [self._derive(r) for r in sorted(records, key=lambda r: r.created_at_epoch_ms)]

    async def activate(
        self, tenant_id: str, pipeline_id: str, release_version: str, now_ms: int
    ) -> ReleaseRecord:
        event = self._activation_for(tenant_id, pipeline_id, release_version, now_ms)
        self._apply_activation(event)
        return self._derive(self._releases[(tenant_id, pipeline_id)][release_version])

    async def active(self, tenant_id: str, pipeline_id: str) -> ReleaseRecord | None:
        latest = self._latest.get((tenant_id, pipeline_id))
        if latest is None:
            return None
        return await self.get(tenant_id, pipeline_id, latest.release_version)
