"""A coordinator behind its REST edge on 127.0.0.1, driven over real HTTP.

``api`` runs the restaurant pipeline in process; the release is built here but registered,
activated and its worker registered through the admin API (``released``), as an operator
would. ``make_api`` builds more, with settings overrides and an explicit ``environ``.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient, TestServer

from demos.restaurant_approval import pipeline as restaurant_pipeline
from demos.restaurant_approval.pipeline import AWAIT_STEP_ID, PIPELINE_ID
from tests.http import gate
from tpf.authoring.pipeline import Pipeline
from tpf.config.settings import (
    ControlPlaneSettings,
    ReleaseSettings,
    Settings,
    StateSettings,
    SurfaceSettings,
    WorkerSettings,
)
from tpf.coordinator import Coordinator
from tpf.core.clock import Clock
from tpf.core.records import ExecutionStatus
from tpf.engine.releases import build_release
from tpf.http.app import create_app

TENANT = "restaurant-demo"
AWAIT_STEP = AWAIT_STEP_ID
CP = f"/tpf/control-plane/tenants/{TENANT}"
ADMIN = f"/tpf/admin/tenants/{TENANT}"
RELEASES = f"{ADMIN}/pipelines/{PIPELINE_ID}/releases"
WORKERS = f"{ADMIN}/pipelines/{PIPELINE_ID}/workers"
CP_TOKEN = "cp-token"
ADMIN_TOKEN = "admin-token"
DTO = "org.pipelineframework.restaurantapproval.common.dto."
MAP = "java.util.Map"
ENCODING = "application/tpf-transition+json"


def settings_for(tmp: Path, **overrides: Any) -> Settings:
    base = Settings(
        state=StateSettings(provider="memory", dir=str(tmp / "s")),
        releases=ReleaseSettings(registry_provider="memory"),
        workers=WorkerSettings(lifecycle_provider="memory"),
        control_plane=ControlPlaneSettings(enabled=True, token=CP_TOKEN),
        admin=SurfaceSettings(enabled=True, token=ADMIN_TOKEN),
    )
    return base.replace(**overrides)


@dataclass
class Api:
    client: TestClient[Any, Any]
    coordinator: Coordinator
    tmp: Path

    def _call(
        self, method: str, path: str, token: str | None, **kwargs: Any
    ) -> Awaitable[ClientResponse]:
        headers = dict(kwargs.pop("headers", None) or {})
        if token is not None:
            headers.setdefault("Authorization", f"Bearer {token}")
        return self.client.request(method, path, headers=headers, **kwargs)

    def cp(self, method: str, path: str, **kwargs: Any) -> Awaitable[ClientResponse]:
        return self._call(method, CP + path, CP_TOKEN, **kwargs)

    def admin(self, method: str, path: str, **kwargs: Any) -> Awaitable[ClientResponse]:
        return self._call(method, path, ADMIN_TOKEN, **kwargs)

    def raw(self, method: str, path: str, **kwargs: Any) -> Awaitable[ClientResponse]:
        return self._call(method, path, None, **kwargs)

    async def release(self, pipeline: Pipeline = restaurant_pipeline) -> dict[str, Any]:
        """Register and activate ``pipeline``'s release and register its local worker."""
        descriptor = build_release(pipeline, self.tmp / f"build-{pipeline.pipeline_id}")
        base = f"{ADMIN}/pipelines/{pipeline.pipeline_id}"
        body = {"releaseDescriptorPath": str(descriptor)}
        registered = await ok(self.admin("POST", f"{base}/releases/register", json=body))
        version = registered["releaseVersion"]
        active = await ok(self.admin("POST", f"{base}/releases/{version}/activate"))
        await ok(
            self.admin(
                "POST",
                f"{base}/workers/register",
                json={
                    "workerId": "restaurant-local-worker",
                    "contractVersion": active["contractVersion"],
                    "releaseVersion": version,
                    "protocol": "LOCAL",
                    "endpoint": "in-process",
                    "artifactId": active["primaryArtifactId"],
                    "artifactDigest": active["primaryArtifactDigest"],
                },
            )
        )
        return active

    async def submit(self, order: dict[str, Any] | None = None, **extra: Any) -> str:
        body = {
            "pipelineId": PIPELINE_ID,
            "inputShape": "UNI",
            "inputPayload": order_envelope(order),
        }
        accepted = await ok(self.cp("POST", "/executions", json={**body, **extra}))
        execution_id: str = accepted["executionId"]
        return execution_id

    async def wait_status(self, execution_id: str, wait_ms: int = 5000) -> dict[str, Any]:
        result: dict[str, Any] = await ok(
            self.cp("GET", f"/executions/{execution_id}?waitMs={wait_ms}")
        )
        return result

    async def parked(self, execution_id: str) -> dict[str, Any]:
        status = await self.wait_status(execution_id)
        assert status["status"] == ExecutionStatus.WAITING_EXTERNAL, status
        pending = await ok(self.cp("GET", f"/interactions/pending?stepId={AWAIT_STEP}"))
        return next(p for p in pending if p["executionId"] == execution_id)


async def ok(call: Awaitable[ClientResponse], status: int = 200) -> Any:
    response = await call
    body = await response.json()
    assert response.status == status, (response.status, body)
    return body


async def error(call: Awaitable[ClientResponse], status: int) -> dict[str, Any]:
    """The ``error`` member of a JSON error answer with ``status`` (``details`` are optional)."""
    response = await call
    assert response.content_type == "application/json"
    body = await response.json()
    assert response.status == status, (response.status, body)
    assert set(body) == {"error"}, body
    assert {"code", "message"} <= set(body["error"]) <= {"code", "message", "details"}, body
    detail: dict[str, Any] = body["error"]
    return detail


ORDER = {
    "requestId": "req-1",
    "customerName": "Ada Lovelace",
    "restaurantName": "Cafe TPF",
    "items": "Margherita Pizza, Sparkling Water",
    "totalAmount": "27.50",
    "currency": "EUR",
}


def envelope(type_id: str | None, payload: str) -> dict[str, Any]:
    return {"payloadTypeId": type_id, "payloadEncoding": ENCODING, "payload": payload}


def order_envelope(order: dict[str, Any] | None = None) -> dict[str, Any]:
    """The original demo client's typed input envelope."""
    return envelope(DTO + "PlaceRestaurantOrderRequestDto", json.dumps(order or ORDER))


def decision_envelope(kind: str, fields: Mapping[str, str]) -> dict[str, Any]:
    """The original demo client's completion: nested ``java.util.Map`` envelopes."""
    inner = {k: envelope("java.lang.String", json.dumps(v)) for k, v in fields.items()}
    items = {kind: envelope(MAP, json.dumps({"items": inner}))}
    return envelope(MAP, json.dumps({"items": items}))


ApiFactory = Callable[..., Awaitable[Api]]


@pytest.fixture
async def make_api(tmp_path: Path) -> AsyncIterator[ApiFactory]:
    made: list[tuple[Api, Coordinator]] = []

    async def factory(
        *,
        environ: Mapping[str, str] | None = None,
        start: bool = True,
        clock: Clock | None = None,
        host: tuple[Pipeline, ...] = (),
        **overrides: Any,
    ) -> Api:
        tmp = tmp_path / f"api-{len(made)}"
        tmp.mkdir()
        coordinator = await Coordinator.open(settings_for(tmp, **overrides), clock=clock)
        if start:
            await coordinator.start()
        for pipeline in (restaurant_pipeline, *host):
            coordinator.host(pipeline)
        client: TestClient[Any, Any] = TestClient(
            TestServer(create_app(coordinator, environ=environ or {}), host="127.0.0.1")
        )
        await client.start_server()
        api = Api(client, coordinator, tmp)
        made.append((api, coordinator))
        return api

    try:
        yield factory
    finally:
        for api, coordinator in made:
            await api.client.close()
            await coordinator.close()


@pytest.fixture
async def api(make_api: ApiFactory) -> Api:
    return await make_api()


@pytest.fixture
async def released(api: Api) -> Api:
    await api.release()
    return api


@pytest.fixture
async def gated(make_api: ApiFactory) -> AsyncIterator[Api]:
    """An API that also hosts the gate pipeline (its executions hold until the gate opens)."""
    gate.GATE.event = asyncio.Event()
    api = await make_api(host=(gate.pipeline,))
    await api.release(gate.pipeline)
    try:
        yield api
    finally:
        gate.GATE.event.set()  # a held step finishes before the coordinator closes


async def submit_gated(api: Api, ticket: str = "t-1") -> str:
    body = {
        "pipelineId": gate.pipeline.pipeline_id,
        "inputShape": "UNI",
        "inputPayload": {"ticketId": ticket},
    }
    accepted = await ok(api.cp("POST", "/executions", json=body))
    execution_id: str = accepted["executionId"]
    return execution_id
