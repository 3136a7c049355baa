"""A ``tpf worker``'s ``/q/metrics`` honours ``tpf.http.metrics-token`` as the coordinator's
does: 401 with the challenge and the key to set without the token, Prometheus text with it; an
unresolvable token reference refuses the start, naming the key. Over a real socket, in process.
"""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from demos.restaurant_approval import pipeline as restaurant
from tpf.config import load_settings
from tpf.core.errors import ConfigError
from tpf.worker.process import WorkerOptions, WorkerProcess

P = "pipeline.orchestrator."


def settings(**overrides: str) -> Any:
    # The settings check resolves references in this mapping; the worker, in its process's
    # environment at start.
    return load_settings(
        {"SCRAPE_TOKEN": "scrape-me"},
        overrides={
            f"{P}worker.rest.shared-secret": "s",
            f"{P}state-provider": "memory",
            "tpf.worker.nonce-store": "memory",
            **overrides,
        },
    )


async def test_worker_metrics_need_the_token_when_one_is_set(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SCRAPE_TOKEN", "scrape-me")  # the worker resolves it from its process
    process = WorkerProcess(
        settings(**{"tpf.http.metrics-token": "env:SCRAPE_TOKEN"}),
        [(restaurant, None)],
        WorkerOptions(protocol="rest", port=0),
    )
    await process.start()
    try:
        url = f"{process.http_url}/q/metrics"
        async with aiohttp.ClientSession() as http:
            async with http.get(url) as refused:
                assert refused.status == 401
                assert refused.headers["WWW-Authenticate"].startswith("Bearer")
                error = (await refused.json())["error"]
                assert error["code"] == "UNAUTHORIZED"
                assert "tpf.http.metrics-token" in error["message"]
            wrong = {"Authorization": "Bearer not-it"}
            async with http.get(url, headers=wrong) as refused:
                assert refused.status == 401
            right = {"Authorization": "Bearer scrape-me"}
            async with http.get(url, headers=right) as scraped:
                assert scraped.status == 200
                assert "tpf_worker_ready" in await scraped.text()
            async with http.get(f"{process.http_url}/q/health/live") as live:
                assert live.status == 200  # probes stay open: a load balancer sends no token
    finally:
        await process.stop()


async def test_worker_metrics_stay_open_without_a_token() -> None:
    process = WorkerProcess(settings(), [(restaurant, None)], WorkerOptions(port=0))
    await process.start()
    try:
        url = f"{process.http_url}/q/metrics"
        async with aiohttp.ClientSession() as http, http.get(url) as scraped:
            assert scraped.status == 200
            assert "tpf_worker_transitions_in_flight" in await scraped.text()
    finally:
        await process.stop()


async def test_an_unresolvable_token_reference_refuses_the_start_naming_the_key(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Resolvable when the settings were checked, gone from the worker's environment at its
    # start: the start is refused rather than metrics served open.
    monkeypatch.delenv("SCRAPE_TOKEN", raising=False)
    loaded = settings(**{"tpf.http.metrics-token": "env:SCRAPE_TOKEN"})
    process = WorkerProcess(loaded, [(restaurant, None)], WorkerOptions(port=0))
    with pytest.raises(ConfigError, match=r"tpf\.http\.metrics-token: .*SCRAPE_TOKEN"):
        await process.start()
    await process.stop()
