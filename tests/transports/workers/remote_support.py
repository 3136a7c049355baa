"""An in-memory worker transport and a coordinator whose pipeline code runs behind it.

:class:`InMemoryTransport` implements ``WorkerTransport`` by calling a ``WorkerHandler`` (a
:class:`~tpf.transports.workers.remote.host.WorkerHost`) directly, so the envelope path, the
remote client and the worker host are tested together without a network (the real transports
are tested by their own modules). :func:`remote_coordinator` builds a coordinator that hosts no
code: its REST transport builder is replaced by one returning the in-memory transport, so a
registered ``rest`` worker record gets a real :class:`RemoteWorker` over it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.engine.harness import RecordingSink, test_settings
from tpf.authoring.pipeline import Pipeline
from tpf.config.providers import OpenContext
from tpf.coordinator import Coordinator
from tpf.core.clock import FakeClock
from tpf.core.records import ReleaseRecord, TransitionCommand
from tpf.engine.releases import build_release
from tpf.stores.factory import open_stores
from tpf.transports.workers.directory import WorkerDirectory
from tpf.transports.workers.local import LocalTransitionWorker
from tpf.transports.workers.remote.contracts import TransportFailure, WorkerHandler
from tpf.transports.workers.remote.host import WorkerHost
from tpf.transports.workers.remote.transports import TRANSPORT_BUILDERS

ENDPOINT = "http://worker.test:8181"


@dataclass
class InMemoryTransport:
    handler: WorkerHandler
    protocol: str = "rest"
    executes: int = 0
    capability_calls: int = 0
    timeouts: list[float] = field(default_factory=list)
    fail_with: TransportFailure | None = None  # raised by every call while set
    started: bool = False
    closed: bool = False

    async def execute(self, command_envelope: bytes, timeout_s: float) -> bytes:
        self.executes += 1
        self.timeouts.append(timeout_s)
        if self.fail_with is not None:
            raise self.fail_with
        return await self.handler.execute(command_envelope)

    async def capabilities(self, timeout_s: float) -> bytes:
        self.capability_calls += 1
        if self.fail_with is not None:
            raise self.fail_with
        return await self.handler.capabilities(self.protocol)

    async def start(self) -> None:
        self.started = True

    async def aclose(self) -> None:
        self.closed = True


class NeverAnswers:
    """A transport whose calls wait for an event that never fires (a hung worker)."""

    protocol = "rest"

    def __init__(self) -> None:
        self.waiting = asyncio.Event()  # set once a call is waiting
        self._never = asyncio.Event()

    async def execute(self, command_envelope: bytes, timeout_s: float) -> bytes:
        self.waiting.set()
        await self._never.wait()
        raise AssertionError("unreachable")

    async def capabilities(self, timeout_s: float) -> bytes:
        await self._never.wait()
        raise AssertionError("unreachable")

    async def start(self) -> None:
        return None

    async def aclose(self) -> None:
        return None


def host_of(*pipelines: Pipeline, clock: FakeClock | None = None, **kwargs: Any) -> WorkerHost:
    """A worker host serving ``pipelines`` as local workers (each under its code digest)."""
    directory = WorkerDirectory()
    for pipeline in pipelines:
        directory.add(LocalTransitionWorker(pipeline, clock or FakeClock()))
    return WorkerHost(directory, **kwargs)


def command(identity: tuple[str, str, str], execution_id: str = "e-1") -> TransitionCommand:
    pid, cv, rv = identity
    return TransitionCommand(
        tenant_id="t1",
        execution_id=execution_id,
        pipeline_id=pid,
        contract_version=cv,
        release_version=rv,
        current_step_index=0,
        transition_key=f"{execution_id}:0:0",
        trace_id=f"{execution_id}:0:0",
        payload_type_id="test.Item",
        payload='{"value": "a"}',
    )


def identity_of(host: WorkerHost) -> tuple[str, str, str]:
    """The identity of the one pipeline ``host`` serves."""
    [worker] = host.workers.all()
    return worker.identity


@contextmanager
def rest_builder(transport: InMemoryTransport) -> Iterator[list[str | None]]:
    """Every REST transport built meanwhile is ``transport``; yields the endpoints asked for."""
    asked: list[str | None] = []
    previous = TRANSPORT_BUILDERS["rest"]

    async def build(ctx: OpenContext, endpoint: str | None) -> InMemoryTransport:
        asked.append(endpoint)
        return transport

    TRANSPORT_BUILDERS["rest"] = build  # type: ignore[assignment]
    try:
        yield asked
    finally:
        TRANSPORT_BUILDERS["rest"] = previous


@dataclass
class Remote:
    coordinator: Coordinator
    clock: FakeClock
    transport: InMemoryTransport
    host: WorkerHost
    release: ReleaseRecord
    endpoints: list[str | None]


@asynccontextmanager
async def remote_coordinator(
    tmp: Path,
    pipeline: Pipeline,
    *,
    tenant: str,
    endpoint: str = ENDPOINT,
    register: bool = True,
    **overrides: Any,
) -> AsyncIterator[Remote]:
    """A coordinator that hosts nothing, ``pipeline`` released and active, its code on a worker
    host behind an in-memory REST transport and (``register``) a ``rest`` worker record
    naming ``endpoint``."""
    clock = FakeClock()
    settings = test_settings(tmp, **overrides)
    host = host_of(pipeline, clock=clock)
    transport = InMemoryTransport(host)
    with rest_builder(transport) as endpoints:
        stores = await open_stores(settings)
        c = Coordinator(settings, stores, clock=clock, dlq_sink=RecordingSink(), rand=lambda: 0.5)
        try:
            descriptor = build_release(pipeline, tmp / "release")
            record = await c.register_release(tenant, pipeline.pipeline_id, str(descriptor))
            release = await c.activate_release(tenant, pipeline.pipeline_id, record.release_version)
            if register:
                await c.register_worker(
                    tenant,
                    pipeline.pipeline_id,
                    "rest-worker-1",
                    contract_version=release.contract_version,
                    release_version=release.release_version,
                    protocol="rest",
                    endpoint=endpoint,
                )
            yield Remote(c, clock, transport, host, release, endpoints)
        finally:
            await c.close()
