"""The operator commands against a real ``tpf serve``, run as operators run them."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

from demos.restaurant_approval.pipeline import PIPELINE_ID
from demos.restaurant_approval.server import ROOT, TENANT, TOKEN, DemoServer


@pytest.fixture
def server(restaurant_server: DemoServer) -> DemoServer:
    return restaurant_server


def tpf(server: DemoServer, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "TPF_BASE_URL": server.base_url,
        "TPF_TENANT": TENANT,
        "TPF_CONTROL_PLANE_TOKEN": TOKEN,
        "TPF_ADMIN_TOKEN": TOKEN,
    }
    return subprocess.run(
        [sys.executable, "-m", "tpf.cli.main", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def json_of(done: subprocess.CompletedProcess[str]) -> Any:
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_release_and_worker_listings(server: DemoServer) -> None:
    active = json_of(tpf(server, "releases", "active", "--pipeline-id", PIPELINE_ID, "--json"))
    assert active["status"] == "ACTIVE"
    listed = tpf(server, "releases", "list", "--pipeline-id", PIPELINE_ID)
    assert listed.returncode == 0 and f"release {active['releaseVersion']} ACTIVE" in listed.stdout
    workers = tpf(server, "workers", "list", "--pipeline-id", PIPELINE_ID)
    # The runbook's hand-registered worker is listed (HEALTHY only for stale-after after
    # registration); the record the server keeps for the code it hosts is always HEALTHY.
    assert "worker restaurant-local-worker " in workers.stdout
    own = f"{socket.gethostname()}:{server.port}@{active['releaseVersion']}"
    assert f"worker {own} HEALTHY protocol=local" in workers.stdout


def test_submit_complete_and_read_the_result(server: DemoServer, tmp_path: Path) -> None:
    order = {
        "requestId": str(uuid.uuid4()),
        "customerName": "Ada Lovelace",
        "restaurantName": "Cafe TPF",
        "items": "Tea",
        "totalAmount": "4.50",
        "currency": "EUR",
    }
    (tmp_path / "order.json").write_text(json.dumps(order))
    submitted = json_of(
        tpf(
            server,
            "executions",
            "submit",
            "--pipeline-id",
            PIPELINE_ID,
            "--input",
            f"@{tmp_path / 'order.json'}",
            "--idempotency-key",
            order["requestId"],
            "--json",
        )
    )
    eid = submitted["executionId"]
    parked = json_of(tpf(server, "executions", "get", eid, "--wait-ms", "10000", "--json"))
    assert parked["status"] == "WAITING_EXTERNAL"
    pending = json_of(tpf(server, "interactions", "pending", "--json"))
    interaction = next(p for p in pending if p["executionId"] == eid)
    response = json.dumps({"accepted": {"orderId": interaction["requestPayload"]["orderId"]}})
    done = tpf(
        server,
        "interactions",
        "complete",
        "--interaction-id",
        interaction["interactionId"],
        "--response",
        response,
        "--actor",
        "ops",
    )
    assert done.returncode == 0, done.stderr
    assert f"interaction {interaction['interactionId']} COMPLETED" in done.stdout
    again = tpf(
        server,
        "interactions",
        "complete",
        "--interaction-id",
        interaction["interactionId"],
        "--response",
        response,
    )
    assert "duplicate: first completion wins" in again.stdout
    result = tpf(server, "executions", "result", eid, "--wait-ms", "10000")
    assert result.returncode == 0, result.stderr
    assert f"execution {eid}: SUCCEEDED" in result.stdout
    assert '"outcome":"APPROVED"' in result.stdout.replace(" ", "")


def test_refusals_exit_1_with_the_api_error(server: DemoServer) -> None:
    done = tpf(server, "redrive", str(uuid.uuid4()), "--allow-failed")
    assert done.returncode == 1
    assert "HTTP 404" in done.stderr and "Execution not found" in done.stderr
    wrong = tpf(server, "executions", "get", str(uuid.uuid4()), "--token", "wrong")
    assert wrong.returncode == 1 and "HTTP 401" in wrong.stderr


def test_drain_and_heartbeat(server: DemoServer) -> None:
    active = json_of(tpf(server, "releases", "active", "--pipeline-id", PIPELINE_ID, "--json"))
    registered = tpf(
        server,
        "workers",
        "register",
        "--pipeline-id",
        PIPELINE_ID,
        "--worker-id",
        "spare",
        "--contract-version",
        active["contractVersion"],
        "--release-version",
        active["releaseVersion"],
        "--protocol",
        "local",
    )
    assert "worker spare HEALTHY" in registered.stdout, registered.stderr
    drained = tpf(server, "workers", "drain", "--pipeline-id", PIPELINE_ID, "spare")
    assert "worker spare DRAINING" in drained.stdout
    beat = tpf(server, "workers", "heartbeat", "--pipeline-id", PIPELINE_ID, "spare")
    assert "worker spare DRAINING" in beat.stdout  # a heartbeat does not undo a drain
