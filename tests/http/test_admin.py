"""Admin routes over HTTP (spec §2.2-§2.4): re-drive, releases (path and upload), workers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import FormData

from demos.restaurant_approval import pipeline as restaurant_pipeline
from tests.http.conftest import (
    ADMIN,
    RELEASES,
    TENANT,
    WORKERS,
    Api,
    ApiFactory,
    decision_envelope,
    error,
    ok,
)
from tpf.engine.releases import build_release

RELEASE_FIELDS = {
    "tenantId",
    "pipelineId",
    "contractVersion",
    "releaseVersion",
    "status",
    "descriptor",
    "primaryArtifactId",
    "primaryArtifactDigest",
    "primaryArtifactUri",
    "primaryArtifactSizeBytes",
    "primaryArtifactChecksum",
    "contract",
    "createdAtEpochMs",
    "updatedAtEpochMs",
    "activatedAtEpochMs",
}
WORKER_FIELDS = {
    "tenantId",
    "pipelineId",
    "contractVersion",
    "releaseVersion",
    "workerId",
    "protocol",
    "endpoint",
    "artifactId",
    "artifactDigest",
    "state",
    "registeredAtEpochMs",
    "lastHeartbeatAtEpochMs",
    "drainingSinceEpochMs",
}
REDRIVE_FIELDS = {
    "tenantId",
    "executionId",
    "previousStatus",
    "status",
    "version",
    "currentStepIndex",
    "attempt",
    "pipelineId",
    "contractVersion",
    "releaseVersion",
    "updatedAtEpochMs",
}
REDRIVE = f"{ADMIN}/executions"


# --------------------------------------------------------------------------- re-drive


async def _failed_execution(api: Api) -> dict[str, Any]:
    """An execution that failed terminally in its last step (the incident demo's)."""
    eid = await api.submit()
    task = await api.parked(eid)
    bad = decision_envelope("accepted", {"orderId": "not-a-uuid", "note": "API-valid"})
    body = {"interactionId": task["interactionId"], "responsePayload": bad}
    await ok(api.cp("POST", "/interactions/complete", json=body))
    status: dict[str, Any] = await ok(api.cp("GET", f"/executions/{eid}?waitMs=5000"))
    assert status["status"] == "FAILED" and status["errorCode"] and status["errorMessage"]
    return status


async def test_redrive_runs_a_failed_execution_again(released: Api) -> None:
    failed = await _failed_execution(released)
    eid, version = failed["executionId"], failed["version"]
    body = {"expectedVersion": version, "reason": "incident re-drive", "allowFailed": True}
    result = await ok(released.admin("POST", f"{REDRIVE}/{eid}/redrive", json=body))
    assert set(result) == REDRIVE_FIELDS
    assert result["previousStatus"] == "FAILED" and result["status"] == "QUEUED"
    assert result["tenantId"] == TENANT and result["executionId"] == eid
    assert result["version"] > version and result["attempt"] == failed["attempt"] + 1
    assert result["currentStepIndex"] == failed["stepIndex"]
    again = await ok(released.cp("GET", f"/executions/{eid}?waitMs=5000"))
    assert again["status"] == "FAILED" and again["version"] > result["version"]


async def test_redrive_errors(released: Api) -> None:
    failed = await _failed_execution(released)
    path = f"{REDRIVE}/{failed['executionId']}/redrive"
    err = await error(released.admin("POST", f"{REDRIVE}/nope/redrive"), 404)
    assert err["message"] == "Execution not found: nope"
    # Body optional: the defaults (allowFailed=false) refuse a FAILED execution.
    err = await error(released.admin("POST", path), 409)
    assert "cannot be re-driven from status FAILED" in err["message"]
    stale = {"expectedVersion": failed["version"] - 1, "allowFailed": True}
    err = await error(released.admin("POST", path, json=stale), 409)
    assert "version mismatch" in err["message"]
    err = await error(released.admin("POST", path, json={"allowFailed": "yes"}), 400)
    assert err["message"] == "allowFailed: Expected bool, got str"
    parked = await released.submit({"requestId": "other", **_order()})
    await released.parked(parked)
    err = await error(released.admin("POST", f"{REDRIVE}/{parked}/redrive", json={}), 409)
    assert "WAITING_EXTERNAL" in err["message"]


def _order() -> dict[str, str]:
    return {
        "customerName": "Grace Hopper",
        "restaurantName": "Bistro Queue",
        "items": "Soup",
        "totalAmount": "9.00",
        "currency": "EUR",
    }


# --------------------------------------------------------------------------- releases


async def test_release_routes_and_versions_with_colons(api: Api) -> None:
    await error(api.admin("GET", f"{RELEASES}/active"), 404)
    assert await ok(api.admin("GET", RELEASES)) == []
    active = await api.release()
    version = active["releaseVersion"]
    assert version.startswith("sha256:")  # the default release version is the code digest
    assert set(active) == RELEASE_FIELDS and active["status"] == "ACTIVE"
    assert active["activatedAtEpochMs"] > 0 and active["contract"]["pipelineId"]
    assert active["primaryArtifactChecksum"] == active["primaryArtifactDigest"]
    assert await ok(api.admin("GET", f"{RELEASES}/{version}")) == active
    encoded = version.replace(":", "%3A")
    assert await ok(api.admin("GET", f"{RELEASES}/{encoded}")) == active
    assert await ok(api.admin("GET", f"{RELEASES}/active")) == active
    other = build_release(restaurant_pipeline, api.tmp / "v2", release_version="v2")
    body = {"releaseDescriptorPath": str(other)}
    second = await ok(api.admin("POST", f"{RELEASES}/register", json=body))
    assert second["status"] == "REGISTERED"
    listed = await ok(api.admin("GET", RELEASES))
    assert [r["releaseVersion"] for r in listed] == [version, "v2"]
    created = [r["createdAtEpochMs"] for r in listed]
    assert created == sorted(created)
    # Registering the same descriptor again is idempotent.
    assert (await ok(api.admin("POST", f"{RELEASES}/register", json=body)))[
        "releaseVersion"
    ] == "v2"
    await ok(api.admin("POST", f"{RELEASES}/v2/activate"))
    assert (await ok(api.admin("GET", f"{RELEASES}/{version}")))["status"] == "REGISTERED"


async def test_release_errors(api: Api) -> None:
    register = f"{RELEASES}/register"
    err = await error(api.admin("POST", register, json={}), 400)
    assert err["message"] == "releaseDescriptorPath is required"
    err = await error(api.admin("POST", register, json={"releaseDescriptorPath": "rel.json"}), 400)
    assert "absolute path" in err["message"]
    missing = {"releaseDescriptorPath": str(api.tmp / "missing.json")}
    err = await error(api.admin("POST", register, json=missing), 400)
    assert "not a readable file" in err["message"]
    await error(api.admin("GET", f"{RELEASES}/sha256:unknown"), 404)
    await error(api.admin("POST", f"{RELEASES}/sha256:unknown/activate"), 404)
    first = build_release(restaurant_pipeline, api.tmp / "a", release_version="v1", artifact_id="a")
    await ok(api.admin("POST", register, json={"releaseDescriptorPath": str(first)}))
    clash = build_release(restaurant_pipeline, api.tmp / "b", release_version="v1", artifact_id="b")
    err = await error(api.admin("POST", register, json={"releaseDescriptorPath": str(clash)}), 409)
    assert err["code"] in ("CONFLICT", "RELEASE_CONFLICT"), err
    # The conflict says what differs, not only that something does.
    assert err["message"].startswith("Release version is already registered with different")
    assert "releaseVersion v1" in err["message"]
    for field in ("primaryArtifactId", "descriptor.artifacts[0].artifactId"):
        assert field in err["message"], err["message"]
    assert "primaryArtifactDigest" not in err["message"]  # the same code: same content
    other_pipeline = f"{ADMIN}/pipelines/other.pipeline/releases/register"
    err = await error(
        api.admin("POST", other_pipeline, json={"releaseDescriptorPath": str(first)}), 400
    )
    assert "does not match" in err["message"]


def _upload(
    descriptor: Path, *, artifact: bytes | None = None, name: str | None = None
) -> FormData:
    """The multipart form: the descriptor part and the artifact part(s)."""
    raw = json.loads(descriptor.read_text())
    [entry] = raw["artifacts"]
    artifact_path = descriptor.parent / entry["uri"]
    assert entry["uri"] == artifact_path.name  # built with the client's relative path
    form = FormData()
    form.add_field(
        "descriptor",
        json.dumps(raw),
        filename="pipeline-release.json",
        content_type="application/json",
    )
    form.add_field(
        name or entry["artifactId"],
        artifact if artifact is not None else artifact_path.read_bytes(),
        filename=f"{name}.bin" if name else artifact_path.name,
        content_type="application/octet-stream",
    )
    return form


async def test_register_by_multipart_upload(api: Api) -> None:
    descriptor = build_release(restaurant_pipeline, api.tmp / "upload-src")
    sent = json.loads(descriptor.read_text())
    form, again = _upload(descriptor), _upload(descriptor)
    for path in descriptor.parent.iterdir():
        path.unlink()  # only the uploaded bytes can satisfy the registration
    record = await ok(api.admin("POST", f"{RELEASES}/register", data=form))
    assert record["status"] == "REGISTERED" and record["primaryArtifactSizeBytes"] > 0
    assert record["descriptor"] == sent  # recorded as sent: no upload directory in it
    # The same build uploaded again, or built elsewhere and registered by path, is the same
    # release: idempotent, not a 409.
    assert await ok(api.admin("POST", f"{RELEASES}/register", data=again)) == record
    elsewhere = build_release(restaurant_pipeline, api.tmp / "elsewhere")
    by_path = {"releaseDescriptorPath": str(elsewhere)}
    assert await ok(api.admin("POST", f"{RELEASES}/register", json=by_path)) == record
    active = await ok(api.admin("POST", f"{RELEASES}/{record['releaseVersion']}/activate"))
    assert active["status"] == "ACTIVE"


async def test_upload_errors_leave_nothing_behind(make_api: ApiFactory) -> None:
    api = await make_api(http__max_upload_bytes=64 * 1024)  # over the artifact
    descriptor = build_release(restaurant_pipeline, api.tmp / "src")
    register = f"{RELEASES}/register"
    no_descriptor = FormData()
    no_descriptor.add_field("x", b"1", filename="x.bin")
    err = await error(api.admin("POST", register, data=no_descriptor), 400)
    assert err["message"].startswith("descriptor:")
    err = await error(api.admin("POST", register, data=_upload(descriptor, name="stray")), 400)
    assert err["message"].startswith("artifacts[0]: no uploaded part named")
    extra = _upload(descriptor)
    extra.add_field("notes", b"hello", filename="notes.txt")
    err = await error(api.admin("POST", register, data=extra), 400)
    assert err["message"] == "uploaded part(s) 'notes.txt' match no artifact of the descriptor"
    tampered = _upload(descriptor, artifact=b"not the artifact")
    err = await error(api.admin("POST", register, data=tampered), 400)
    assert "digest mismatch" in err["message"]
    big = _upload(descriptor, artifact=b"x" * 128 * 1024)
    err = await error(api.admin("POST", register, data=big), 413)
    assert "tpf.http.max-upload-bytes" in err["message"]
    garbage = b"--b\r\nnot a part"
    headers = {"Content-Type": "multipart/form-data; boundary=zz"}
    await error(api.admin("POST", register, data=garbage, headers=headers), 400)
    uploads = Path(api.coordinator.settings.state.dir) / "uploads"
    assert not uploads.exists() or not any(uploads.iterdir())


# --------------------------------------------------------------------------- workers


async def test_worker_lifecycle_routes(released: Api) -> None:
    listed = {w["workerId"]: w for w in await ok(released.admin("GET", WORKERS))}
    own = released.coordinator.hosted.worker_id(released.coordinator.router.all()[0].identity)
    assert set(listed) == {"restaurant-local-worker", own}  # by hand, and kept by the host
    worker = listed["restaurant-local-worker"]
    assert set(worker) == WORKER_FIELDS and set(listed[own]) == WORKER_FIELDS
    assert worker["state"] == "HEALTHY" and worker["protocol"] == "local"  # lower-cased
    assert worker["endpoint"] == "in-process"
    body = {
        "workerId": "  rest-1 ",
        "contractVersion": worker["contractVersion"],
        "releaseVersion": "other",
        "protocol": "REST",
    }
    rest = await ok(released.admin("POST", f"{WORKERS}/register", json=body))
    assert rest["workerId"] == "rest-1" and rest["endpoint"] == "" and rest["artifactId"] == ""
    beat = await ok(released.admin("POST", f"{WORKERS}/rest-1/heartbeat"))
    assert beat["lastHeartbeatAtEpochMs"] >= rest["registeredAtEpochMs"]
    drained = await ok(released.admin("POST", f"{WORKERS}/rest-1/drain"))
    assert drained["state"] == "DRAINING" and drained["drainingSinceEpochMs"] > 0
    still = await ok(released.admin("POST", f"{WORKERS}/rest-1/heartbeat"))
    assert still["state"] == "DRAINING"
    by_release = await ok(released.admin("GET", f"{WORKERS}?releaseVersion=other"))
    assert [w["workerId"] for w in by_release] == ["rest-1"]
    by_contract = await ok(
        released.admin("GET", f"{WORKERS}?contractVersion={worker['contractVersion']}")
    )
    assert len(by_contract) == 3
    assert await ok(released.admin("GET", f"{WORKERS}?contractVersion=none")) == []


async def test_worker_errors(released: Api) -> None:
    full = {"workerId": "w", "contractVersion": "c", "releaseVersion": "r", "protocol": "rest"}
    for field in ("workerId", "contractVersion", "releaseVersion", "protocol"):
        missing = {k: v for k, v in full.items() if k != field}
        err = await error(released.admin("POST", f"{WORKERS}/register", json=missing), 400)
        assert err["message"] == f"{field} is required"
        blank = {**full, field: " "}
        err = await error(released.admin("POST", f"{WORKERS}/register", json=blank), 400)
        assert err["message"] == f"{field} is required"
    err = await error(released.admin("POST", f"{WORKERS}/register"), 400)
    assert err["message"] == "request body is required (a JSON object)"
    await error(released.admin("POST", f"{WORKERS}/ghost/heartbeat"), 404)
    err = await error(released.admin("POST", f"{WORKERS}/ghost/drain"), 404)
    assert "ghost" in err["message"]


async def test_admin_paths_reject_the_control_plane_token(released: Api) -> None:
    headers = {"Authorization": "Bearer cp-token"}
    async with aiohttp.ClientSession() as session:
        url = released.client.make_url(WORKERS)
        async with session.get(url, headers=headers) as response:
            assert response.status == 401
