"""A coordinator served on 127.0.0.1 and a headless Chromium pointed at its console.

The coordinator runs on its own event loop in a thread (Selenium's client blocks), serving the
restaurant release with its local worker; :meth:`Served.run` runs a coroutine there, so a
test can submit and inspect executions directly. The browser is Debian's ``chromium`` driven
by its ``chromedriver`` (nothing is downloaded), with the browser log captured so a test can
assert that the console logged no error.
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Coroutine, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from tests.http.conftest import ADMIN_TOKEN, CP_TOKEN, PIPELINE_ID, TENANT
from tests.http.threaded import coordinator_thread, release_restaurant
from tpf.authoring.pipeline import Pipeline
from tpf.coordinator import Coordinator
from tpf.engine.releases import build_release

T = TypeVar("T")
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
ORDER = {
    "customerName": "Ada Lovelace",
    "restaurantName": "Cafe TPF",
    "items": "Margherita Pizza",
    "totalAmount": "27.50",
    "currency": "EUR",
}
__all__ = ["ADMIN_TOKEN", "CP_TOKEN", "PIPELINE_ID", "TENANT", "Served", "chrome", "served"]


@dataclass
class Served:
    port: int
    coordinator: Coordinator
    loop: asyncio.AbstractEventLoop

    @property
    def console_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/console/"

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(30)

    def submit(self, **order: str) -> str:
        """An execution of the restaurant pipeline, once it is parked (or terminal)."""

        async def go() -> str:
            run = await self.coordinator.submit(TENANT, PIPELINE_ID, {**ORDER, **order})
            await self.coordinator.wait_settled(TENANT, run.execution_id, timeout_s=10)
            return run.execution_id

        return self.run(go())

    def submit_to(self, pipeline_id: str, payload: dict[str, Any]) -> str:
        """An execution of another hosted pipeline, once it is parked (or terminal)."""

        async def go() -> str:
            run = await self.coordinator.submit(TENANT, pipeline_id, payload)
            await self.coordinator.wait_settled(TENANT, run.execution_id, timeout_s=10)
            return run.execution_id

        return self.run(go())

    def status(self, execution_id: str) -> Any:
        return self.run(self.coordinator.status(TENANT, execution_id))


@contextmanager
def served(tmp: Path, *, also: tuple[Pipeline, ...] = (), **overrides: Any) -> Iterator[Served]:
    """The restaurant pipeline, and ``also`` these, released and hosted in process."""

    async def setup(coordinator: Coordinator) -> None:
        await release_restaurant(coordinator, tmp)
        for other in also:
            hosted = coordinator.host(other)
            built = build_release(other, tmp / f"build-{other.pipeline_id}")
            added = await coordinator.register_release(TENANT, other.pipeline_id, str(built))
            await coordinator.activate_release(TENANT, other.pipeline_id, added.release_version)
            await coordinator.register_local_worker(TENANT, hosted, f"w-{other.pipeline_id}")

    with coordinator_thread(tmp, setup, **overrides) as (coordinator, loop, port, _):
        yield Served(port, coordinator, loop)


def chromium_missing() -> str | None:
    """Why the browser tests cannot run here, or None (``.ci/run`` installs both)."""
    for path in (CHROMIUM, CHROMEDRIVER):
        if shutil.which(path) is None:
            return f"{path} is missing: apt-get install chromium chromium-driver"
    return None


@contextmanager
def chrome(downloads: Path | None = None) -> Iterator[Any]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in (
        "--headless=new",
        "--no-sandbox",  # CI runs as root, where Chromium's sandbox cannot start
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--window-size=1280,1000",
        "--no-first-run",
        "--disable-extensions",
        "--disable-background-networking",
        "--disable-component-update",
    ):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()
