"""The edge itself over HTTP: auth, disabled surfaces, JSON errors, health, OpenAPI, metrics."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import aiohttp
import pytest

from tests.http.conftest import (
    ADMIN,
    CP,
    PIPELINE_ID,
    RELEASES,
    WORKERS,
    Api,
    ApiFactory,
    error,
    ok,
    order_envelope,
)
from tpf.core.errors import ConfigError
from tpf.http.app import create_app
from tpf.http.server import serve

SUBMIT = {"pipelineId": PIPELINE_ID, "inputShape": "UNI", "inputPayload": order_envelope()}


# --------------------------------------------------------------------------- auth


async def test_missing_malformed_and_wrong_tokens_are_401(api: Api) -> None:
    for path in (f"{CP}/executions/x", f"{ADMIN}/executions/x/redrive"):
        method = "GET" if path.startswith(CP) else "POST"
        for headers in (
            {},
            {"Authorization": "Basic Y3AtdG9rZW4="},
            {"Authorization": "Bearer "},
            {"Authorization": "Bearer wrong"},
            # The control-plane token never opens the admin API (the admin token, the
            # operator's, does read the control plane: test_admin_token_reads_the_control_plane).
            *([{"Authorization": "Bearer cp-token"}] if not path.startswith(CP) else []),
            {"Authorization": "Bearer cp-tökèn"},  # non-ASCII must not crash compare_digest
        ):
            response = await api.raw(method, path, headers=headers)
            body = await response.json()
            assert response.status == 401, (path, headers, body)
            assert body["error"]["code"] == "UNAUTHORIZED"
            assert response.headers["WWW-Authenticate"].startswith("Bearer")


async def test_admin_token_reads_the_control_plane(api: Api) -> None:
    # The operator's console reads executions with the admin token (only it may ask for their
    # input and outputs), so the control plane accepts it; a 404 is past the auth check.
    response = await api.raw(
        "GET", f"{CP}/executions/x", headers={"Authorization": "Bearer admin-token"}
    )
    assert response.status == 404


async def test_token_refs_resolve_per_request_and_unresolvable_is_503(
    make_api: ApiFactory,
) -> None:
    env = {"CP_TOKEN": "cp-token"}
    api = await make_api(
        environ=env,
        control_plane__token=None,
        control_plane__token_ref="env:CP_TOKEN",
        admin__token=None,
        admin__token_ref="env:ABSENT_ADMIN_TOKEN",
    )
    await error(api.cp("GET", "/executions/x"), 404)  # authorised: the execution is unknown
    await error(api.cp("GET", "/executions/x", headers={"Authorization": "Bearer no"}), 401)
    err = await error(api.admin("GET", WORKERS), 503)
    assert err["code"] == "TOKEN_UNAVAILABLE" and "ABSENT_ADMIN_TOKEN" in err["message"]
    assert "cp-token" not in err["message"]
    env["CP_TOKEN"] = "rotated"  # a rotated secret applies to the next request
    await error(api.cp("GET", "/executions/x"), 401)


async def test_disabled_surfaces_are_404_before_auth(make_api: ApiFactory) -> None:
    api = await make_api(control_plane__enabled=False, admin__enabled=False)
    for method, path in (
        ("POST", f"{CP}/executions"),
        ("GET", f"{CP}/interactions/pending"),
        ("GET", RELEASES),
        ("POST", f"{WORKERS}/register"),
        ("GET", f"{ADMIN}/anything"),
    ):
        err = await error(api.raw(method, path), 404)
        assert "disabled" in err["message"], (path, err)
    await ok(api.raw("GET", "/q/health/live"))  # public routes stay up


# --------------------------------------------------------------------------- errors


async def test_malformed_and_mistyped_bodies_are_400_naming_the_field(released: Api) -> None:
    post = "POST"
    err = await error(released.cp(post, "/executions", data=b"{not json"), 400)
    assert err["code"] == "MALFORMED_JSON"
    err = await error(released.cp(post, "/executions", data=b"[1, 2]"), 400)
    assert err["message"] == "request body: Expected object, got array"
    err = await error(released.cp(post, "/executions"), 400)
    assert err["message"] == "request body is required (a JSON object)"
    err = await error(released.cp(post, "/interactions/complete", json={"interactionid": "x"}), 400)
    assert err["message"] == "interactionid: unknown field"
    err = await error(
        released.admin(post, f"{RELEASES}/register", json={"releaseDescriptorPath": 3}), 400
    )
    assert err["message"] == "releaseDescriptorPath: Expected str, got int"
    err = await error(
        released.cp(post, "/executions", data=b"\xff\xfe", headers={"Content-Type": "text/plain"}),
        400,
    )
    assert err["code"] == "MALFORMED_JSON"


async def test_oversized_bodies_are_413_json(make_api: ApiFactory) -> None:
    api = await make_api(http__max_body_bytes=2048)
    body = {**SUBMIT, "idempotencyKey": "k" * 4096}
    err = await error(api.cp("POST", "/executions", json=body), 413)
    assert err["code"] == "PAYLOAD_TOO_LARGE" and "2048" in err["message"]


async def test_unknown_routes_and_wrong_methods_are_json(api: Api) -> None:
    err = await error(api.raw("GET", "/nowhere"), 404)
    assert err["code"] == "NOT_FOUND"
    response = await api.cp("DELETE", "/executions")
    assert response.status == 405 and {m.strip() for m in response.headers["Allow"].split(",")} == {
        "GET",
        "POST",
    }
    assert (await response.json())["error"]["code"] == "METHOD_NOT_ALLOWED"
    await error(api.cp("GET", "/executions/a/b/c"), 404)


async def test_unexpected_exceptions_are_500_json_and_logged(
    api: Api, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    async def boom(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("secret internals")

    monkeypatch.setattr(api.coordinator, "status", boom)
    err = await error(api.cp("GET", "/executions/x"), 500)
    assert err == {"code": "INTERNAL_ERROR", "message": "An unexpected error occurred"}
    assert "secret internals" in caplog.text  # the traceback is logged, not sent


# --------------------------------------------------------------------------- health


async def test_health_live_and_ready(make_api: ApiFactory) -> None:
    api = await make_api(start=False)
    assert await ok(api.raw("GET", "/q/health/live")) == {"status": "UP"}
    assert await ok(api.raw("GET", "/q/health/ready"), 503) == {"status": "DOWN"}
    await api.coordinator.start()
    assert await ok(api.raw("GET", "/q/health/ready")) == {"status": "UP"}
    await api.coordinator.close()
    assert await ok(api.raw("GET", "/q/health/ready"), 503) == {"status": "DOWN"}
    assert await ok(api.raw("GET", "/q/health/live")) == {"status": "UP"}


# --------------------------------------------------------------------------- OpenAPI


async def test_openapi_documents_every_registered_route(api: Api) -> None:
    doc = await ok(api.raw("GET", "/q/openapi"))
    assert doc["openapi"].startswith("3.")
    # The web console's static files (/console) are pages, not API: tests/console covers them.
    registered = {
        (route.method.lower(), route.resource.canonical)
        for route in api.client.app.router.routes()
        if route.resource is not None and not route.resource.canonical.startswith("/console")
    }
    documented = {(m, path) for path, ops in doc["paths"].items() for m in ops}
    assert documented == registered
    schemas = doc["components"]["schemas"]
    assert {"SubmitRequest", "ExecutionStatusDto", "ErrorBody", "ReleaseDto"} <= set(schemas)
    submit = doc["paths"]["/tpf/control-plane/tenants/{tenantId}/executions"]["post"]
    assert submit["security"] == [{"controlPlaneToken": []}]
    assert [p["name"] for p in submit["parameters"]] == ["tenantId"]
    request_schema = submit["requestBody"]["content"]["application/json"]["schema"]
    assert request_schema == {"$ref": "#/components/schemas/SubmitRequest"}
    assert set(schemas["SubmitRequest"]["required"]) == {"pipelineId", "inputShape", "inputPayload"}
    assert submit["responses"]["400"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ErrorBody"
    }
    status_op = doc["paths"]["/tpf/control-plane/tenants/{tenantId}/executions/{executionId}"]
    assert {"waitMs"} <= {p["name"] for p in status_op["get"]["parameters"]}
    register = doc["paths"][
        "/tpf/admin/tenants/{tenantId}/pipelines/{pipelineId}/releases/register"
    ]["post"]
    assert "multipart/form-data" in register["requestBody"]["content"]
    for path, ops in doc["paths"].items():
        for op in ops.values():
            names = {p["name"] for p in op["parameters"] if p["in"] == "path"}
            assert names == set(re.findall(r"\{(\w+)\}", path))


# --------------------------------------------------------------------------- metrics


async def test_metrics_expose_engine_counters_and_gauges(released: Api) -> None:
    def sample(text: str, name: str) -> float:
        match = re.search(rf"^{re.escape(name)} (\S+)$", text, re.MULTILINE)
        return float(match.group(1)) if match else 0.0

    before = await (await released.raw("GET", "/q/metrics")).text()
    await released.parked(await released.submit())
    response = await released.raw("GET", "/q/metrics")
    assert response.status == 200 and response.content_type == "text/plain"
    after = await response.text()
    assert sample(after, "tpf_submitted_total") == sample(before, "tpf_submitted_total") + 1
    assert sample(after, 'tpf_executions{status="WAITING_EXTERNAL"}') == 1
    assert sample(after, "tpf_await_pending") == 1
    assert "tpf_actor_mailbox_depth" in after and "tpf_ready 1.0" in after


# --------------------------------------------------------------------------- app & server


async def test_unresolvable_resume_token_secret_fails_app_creation(api: Api) -> None:
    from dataclasses import replace

    api.coordinator.settings = replace(
        api.coordinator.settings,
        awaits=replace(api.coordinator.settings.awaits, resume_token_secret="env:NOPE"),
    )
    with pytest.raises(ConfigError, match="resume-token-secret"):
        create_app(api.coordinator, environ={})


async def test_serve_listens_on_an_ephemeral_port_until_cancelled(api: Api) -> None:
    ports: asyncio.Queue[int] = asyncio.Queue()
    task = asyncio.create_task(
        serve(api.coordinator, host="127.0.0.1", port=0, started=ports.put_nowait)
    )
    port = await asyncio.wait_for(ports.get(), timeout=5)
    assert port > 0
    url = f"http://127.0.0.1:{port}/q/health/live"
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        assert await response.json() == {"status": "UP"}
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    async with aiohttp.ClientSession() as session:
        with pytest.raises(aiohttp.ClientConnectionError):
            await session.get(url)


def test_route_surfaces_agree_with_the_guard() -> None:
    """OpenAPI documents each route's token from Route.surface; the guard decides by path."""
    from tpf.http.app import ROUTES
    from tpf.http.auth import surface_of

    assert all(route.surface is surface_of(route.path) for route in ROUTES)
