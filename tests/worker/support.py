"""A coordinator in the test's process and ``tpf worker`` processes beside it.

The coordinator runs the recipe's REST worker lines (``worker.rest.base-url`` and its
``shared-secret-ref``, tests/recipe.py) or their gRPC equivalent, with
``control-plane.require-remote-worker=true``, on SQLite, behind its real HTTP edge on a free
port: so the workers' admin API calls are real, while the test drives executions through the
coordinator's own API and waits on them (``wait_for``) instead of polling. Its
``register_worker`` and ``drain_worker`` are spied on: a worker's registration or drain is an
event the test awaits.

:class:`WorkerNode` is :class:`tests.ha.cluster.Node` (log file, SIGKILL, SIGTERM, readiness by
``/q/health/ready``) running ``tpf worker`` instead of ``tpf serve``.
"""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestServer

from tests.ha.cluster import (
    ADMIN_TOKEN,
    CONTROL_TOKEN,
    ROOT,
    TENANT,
    Node,
    child_env,
    free_port,
    tpf,
)
from tests.recipe import RECIPE_REST_WORKER, WORKER_SECRET_ENV
from tpf.authoring.pipeline import Pipeline
from tpf.config import load_settings
from tpf.config.settings import Settings
from tpf.coordinator import Coordinator
from tpf.core.records import ReleaseRecord, WorkerRecord
from tpf.engine.releases import build_release
from tpf.http.app import create_app

P = "pipeline.orchestrator."
SECRET = WORKER_SECRET_ENV["TPF_WORKER_SECRET"]
ENVIRON = {
    "TPF_CONTROL_PLANE_TOKEN": CONTROL_TOKEN,
    "TPF_ADMIN_TOKEN": ADMIN_TOKEN,
    **WORKER_SECRET_ENV,
}


def coordinator_properties(
    tmp: Path, protocol: str, target: str, lifecycle: str = "", extra: str = ""
) -> str:
    """The recipe's worker selection for ``protocol`` (REST: its two lines verbatim, but for
    the address), required, with a control plane and admin API behind env: tokens; worker
    lifecycle in SQLite unless ``lifecycle`` gives its lines."""
    if protocol == "rest":
        selection = RECIPE_REST_WORKER.replace("http://restaurant-worker:8181", target)
    elif protocol == "sqs":  # ``extra`` gives the response queue and the SQS endpoint
        selection = (
            f"{P}worker.sqs.request-queue-url={target}\n"
            f"{P}worker.sqs.shared-secret-ref=env:TPF_WORKER_SECRET\n"
        )
    else:
        selection = (
            f"{P}worker.grpc.endpoint={target}\n"
            f"{P}worker.grpc.plaintext=true\n"
            f"{P}worker.grpc.shared-secret-ref=env:TPF_WORKER_SECRET\n"
        )
    return (
        selection
        + (
            f"{P}control-plane.enabled=true\n"
            f"{P}control-plane.admin-token-ref=env:TPF_CONTROL_PLANE_TOKEN\n"
            f"{P}control-plane.require-remote-worker=true\n"
            f"{P}admin.enabled=true\n"
            f"{P}admin.admin-token-ref=env:TPF_ADMIN_TOKEN\n"
            f"{P}state-provider=sqlite\n"
            f"tpf.state-dir={tmp / 'coordinator'}\n"
            f"{P}releases.registry.provider=file\n"
            f"{P}worker.lifecycle.stale-after=PT10S\n"
            f"{P}retry-delay=PT0.2S\n"
            f"{P}max-retries=3\n"
        )
        + (lifecycle or f"{P}worker.lifecycle.provider=sqlite\n")
        + extra
    )


def worker_properties(nonce_path: Path, protocol: str = "rest", extra: str = "") -> str:
    """A worker's configuration: the protocol's secret by the recipe's reference, nonces in a
    SQLite file its replicas may share, no state of its own."""
    lines = (
        f"{P}worker.{protocol}.shared-secret-ref=env:TPF_WORKER_SECRET\n"
        f"{P}state-provider=memory\n"
        "tpf.worker.nonce-store=sqlite\n"
        f"tpf.worker.nonce-path={nonce_path}\n"
        f"{P}worker.lifecycle.stale-after=PT10S\n"
    )
    if protocol == "grpc":
        lines += f"{P}worker.grpc.plaintext=true\n"
    return lines + extra


@dataclass
class Edge:
    coordinator: Coordinator
    url: str
    registered: asyncio.Queue[WorkerRecord]
    drained: asyncio.Queue[WorkerRecord]

    async def release(self, pipeline: Pipeline, build_dir: Path) -> ReleaseRecord:
        """Build, register and activate ``pipeline``'s code as its digest release."""
        descriptor = await asyncio.to_thread(build_release, pipeline, build_dir)
        c = self.coordinator
        record = await c.register_release(TENANT, pipeline.pipeline_id, str(descriptor))
        return await c.activate_release(TENANT, pipeline.pipeline_id, record.release_version)


@asynccontextmanager
async def coordinator_edge(
    tmp: Path,
    monkeypatch: pytest.MonkeyPatch,
    protocol: str,
    target: str,
    *,
    lifecycle: str = "",
    extra: str = "",
    prepare: Callable[[Settings], Awaitable[None]] | None = None,
) -> AsyncIterator[Edge]:
    """A started coordinator targeting ``target`` over ``protocol``, its HTTP edge listening.
    ``prepare(settings)`` runs before it opens (``tpf bootstrap aws``'s work)."""
    monkeypatch.setenv("TPF_WORKER_SECRET", SECRET)  # the worker clients resolve it from here
    config = tmp / "coordinator.properties"
    config.write_text(coordinator_properties(tmp, protocol, target, lifecycle, extra))
    settings = load_settings(ENVIRON, config_file=str(config))
    if prepare is not None:
        await prepare(settings)
    c = await Coordinator.open(settings)
    registered: asyncio.Queue[WorkerRecord] = asyncio.Queue()
    drained: asyncio.Queue[WorkerRecord] = asyncio.Queue()
    register, drain = c.register_worker, c.drain_worker

    async def spy_register(*args: Any, **kwargs: Any) -> WorkerRecord:
        record = await register(*args, **kwargs)
        registered.put_nowait(record)
        return record

    async def spy_drain(*args: Any, **kwargs: Any) -> WorkerRecord:
        record = await drain(*args, **kwargs)
        drained.put_nowait(record)
        return record

    c.register_worker = spy_register  # type: ignore[method-assign]
    c.drain_worker = spy_drain  # type: ignore[method-assign]
    server = TestServer(create_app(c, environ=ENVIRON), host="127.0.0.1", port=free_port())
    try:
        await c.start()
        await server.start_server()
        yield Edge(c, str(server.make_url("")).rstrip("/"), registered, drained)
    finally:
        await server.close()
        await c.close()


@dataclass
class WorkerNode(Node):
    """One ``tpf worker`` process (``pipelines`` are its ``--pipeline`` references)."""

    protocol: str = "rest"
    http_port: int = field(default_factory=free_port)
    coordinator_url: str = ""
    tenants: tuple[str, ...] = (TENANT,)
    flags: tuple[str, ...] = ()  # more ``tpf worker`` arguments

    @property
    def base_url(self) -> str:
        """Where its probes answer (REST serves them on the protocol's port)."""
        port = self.port if self.protocol == "rest" else self.http_port
        return f"http://127.0.0.1:{port}"

    @property
    def address(self) -> str:
        """What a coordinator is configured with to reach it."""
        return (
            f"http://127.0.0.1:{self.port}"
            if self.protocol == "rest"
            else (f"127.0.0.1:{self.port}")
        )

    def args(self) -> list[str]:
        args = ["worker", "--config", str(self.config), "--protocol", self.protocol]
        args += ["--port", str(self.port), "--http-port", str(self.http_port)]
        for ref in self.pipelines:
            args += ["--pipeline", ref]
        for tenant in self.tenants:
            args += ["--tenant", tenant]
        if self.coordinator_url:
            args += ["--coordinator-url", self.coordinator_url]
        return [*args, *self.flags]  # the admin token comes from $TPF_ADMIN_TOKEN (child_env)

    def launch(self) -> None:
        log = open(self.log_path, "w")  # noqa: SIM115 - the child writes it until it exits
        try:
            self.process = subprocess.Popen(
                tpf(*self.args()),
                cwd=ROOT,
                env=child_env(self.extra_env),
                stdout=log,
                stderr=subprocess.STDOUT,
                text=True,
            )
        finally:
            log.close()

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid


async def start_worker(node: WorkerNode) -> WorkerNode:
    """Launch ``node`` and return once it answers ready (off the event loop: the coordinator
    the worker may call runs on it)."""
    node.launch()
    await asyncio.to_thread(node.wait_ready, 30.0)
    return node


async def next_record(queue: asyncio.Queue[WorkerRecord], node: Node) -> WorkerRecord:
    """The next record the coordinator was sent (a registration or a drain), within 10 s."""
    try:
        return await asyncio.wait_for(queue.get(), 10.0)
    except TimeoutError:
        raise AssertionError(f"{node.name} sent nothing in 10 s:\n{node.log()}") from None
