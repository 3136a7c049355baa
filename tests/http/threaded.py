"""A coordinator served on 127.0.0.1 from a background thread, for synchronous HTTP clients.

The fuzz tests drive the edge with blocking clients (http.client, hypothesis, schemathesis),
which cannot share pytest-asyncio's loop; so the coordinator runs on its own event loop in a
daemon thread. It serves the restaurant release (registered and activated), its local worker
``w-1`` (and ``w-spare``, the same worker under a second id, for a fuzz to heartbeat and drain
without taking ``w-1`` out of admission) and one execution parked on an open interaction, so
fuzzed requests that name them reach past the lookups into the coordinator.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from demos.restaurant_approval import pipeline as restaurant_pipeline
from tests.http.conftest import PIPELINE_ID, TENANT, settings_for
from tpf.coordinator import Coordinator
from tpf.engine.releases import build_release
from tpf.http.server import serve

T = TypeVar("T")
ORDER = {
    "customerName": "Ada",
    "restaurantName": "Cafe",
    "items": "Tea",
    "totalAmount": "1.00",
    "currency": "EUR",
}


@dataclass
class Served:
    port: int
    release_version: str
    interaction_id: str
    execution_id: str
    worker_id: str = "w-1"
    spare_worker_id: str = "w-spare"

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@contextmanager
def coordinator_thread(
    tmp: Path, setup: Callable[[Coordinator], Awaitable[T]], **overrides: Any
) -> Iterator[tuple[Coordinator, asyncio.AbstractEventLoop, int, T]]:
    """A coordinator (``settings_for(tmp, **overrides)``) on an event loop in a daemon thread,
    set up by ``setup`` and served on a free 127.0.0.1 port: yields the coordinator, its loop,
    the port and what ``setup`` returned; closes everything on exit."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()

    async def start() -> tuple[Coordinator, asyncio.Task[None], int, T]:
        coordinator = await Coordinator.open(settings_for(tmp, **overrides))
        try:
            await coordinator.start()
            info = await setup(coordinator)
            ports: asyncio.Queue[int] = asyncio.Queue()
            server = asyncio.create_task(
                serve(coordinator, host="127.0.0.1", port=0, started=ports.put_nowait)
            )
            port = await asyncio.wait_for(ports.get(), 5)
        except BaseException:
            await coordinator.close()
            raise
        return coordinator, server, port, info

    try:
        coordinator, server, port, info = asyncio.run_coroutine_threadsafe(start(), loop).result(30)
        try:
            yield coordinator, loop, port, info
        finally:

            async def stop() -> None:
                server.cancel()
                await asyncio.gather(server, return_exceptions=True)
                await coordinator.close()
                # What asyncio.run does at its end: aiohttp can leave a connection's task
                # lingering to drain an unread body (a refused huge Content-Length) for 10 s.
                others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
                for task in others:
                    task.cancel()
                await asyncio.gather(*others, return_exceptions=True)

            asyncio.run_coroutine_threadsafe(stop(), loop).result(30)
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


async def release_restaurant(coordinator: Coordinator, tmp: Path) -> tuple[str, Any]:
    """Register and activate the restaurant release with its local worker ``w-1``: the
    release version and the worker."""
    worker = coordinator.host(restaurant_pipeline)
    descriptor = build_release(restaurant_pipeline, tmp / "build")
    release = await coordinator.register_release(TENANT, PIPELINE_ID, str(descriptor))
    await coordinator.activate_release(TENANT, PIPELINE_ID, release.release_version)
    await coordinator.register_local_worker(TENANT, worker, "w-1")
    return release.release_version, worker


@contextmanager
def served_in_thread(tmp: Path, **overrides: Any) -> Iterator[Served]:
    """Serve a released coordinator (settings from ``settings_for(tmp, **overrides)``)."""

    async def setup(coordinator: Coordinator) -> tuple[str, str, str]:
        release_version, worker = await release_restaurant(coordinator, tmp)
        await coordinator.register_local_worker(TENANT, worker, "w-spare")
        run = await coordinator.submit(TENANT, PIPELINE_ID, ORDER)
        await coordinator.wait_settled(TENANT, run.execution_id, timeout_s=5)
        [task] = await coordinator.pending(TENANT)
        return release_version, task.interaction_id, run.execution_id

    with coordinator_thread(tmp, setup, **overrides) as (_, _, port, info):
        yield Served(port, *info)
