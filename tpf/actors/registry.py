"""The registry actor: one per ``(tenant, pipeline)``, it serialises release and worker changes.

Registering and activating releases and recording worker lifecycle events are commands, so they
arrive here as messages and run one at a time per pipeline: two operators activating at once
cannot interleave a verify and an append. After each change it drops the admission cache so the
next submission sees the new state.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, cast

from tpf.actors.messages import (
    ActivateRelease,
    RecordWorkerEvent,
    RegisterRelease,
    RegistryMessage,
)
from tpf.actors.runtime import Actor
from tpf.core.clock import Clock
from tpf.core.errors import NotFound, ValidationError
from tpf.core.records import ReleaseRecord, WorkerEvent, WorkerEventType, WorkerRecord
from tpf.stores.base import WorkerStore

REGISTRY = "registry"


class Registrar(Protocol):
    """Registers and activates releases (:class:`tpf.engine.releases.ReleaseRegistrar`): a
    protocol so the actors do not import the engine services they serialise."""

    async def register(
        self, tenant_id: str, pipeline_id: str, descriptor_path: str
    ) -> ReleaseRecord: ...

    async def activate(
        self, tenant_id: str, pipeline_id: str, release_version: str
    ) -> ReleaseRecord: ...


class RegistryActor(Actor[RegistryMessage]):
    def __init__(
        self,
        registrar: Registrar,
        workers: WorkerStore,
        clock: Clock,
        on_change: Callable[[], None],
    ) -> None:
        self._registrar = registrar
        self._workers = workers
        self._clock = clock
        self._on_change = on_change

    async def receive(self, message: RegistryMessage) -> ReleaseRecord | WorkerRecord:
        tenant_id, pipeline_id = cast(tuple[str, str], self.key)
        try:
            match message:
                case RegisterRelease(descriptor_path=path):
                    return await self._registrar.register(tenant_id, pipeline_id, path)
                case ActivateRelease(release_version=version):
                    return await self._registrar.activate(tenant_id, pipeline_id, version)
                case RecordWorkerEvent(event=event):
                    return await self._worker_event(event)
                case _:  # the type says otherwise, but a caller may send anything at run time
                    raise TypeError(f"unknown registry message {type(message).__name__}")
        finally:
            self._on_change()

    async def _worker_event(self, event: WorkerEvent) -> WorkerRecord:
        if event.event_type is WorkerEventType.REGISTER:
            for name in ("worker_id", "contract_version", "release_version", "protocol"):
                if not str(getattr(event, name)).strip():
                    camel = "".join(
                        w.capitalize() if i else w for i, w in enumerate(name.split("_"))
                    )
                    raise ValidationError(f"{camel} is required")
        record = await self._workers.append(event)
        if record is None:
            raise NotFound(f"Worker not found: {event.worker_id}")
        return record
