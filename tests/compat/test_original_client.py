"""Existing TPF clients work unchanged: the original's JSON against a real ``tpf serve``.

The coordinator is started as a subprocess with the restaurant pipeline, its release is built
with ``tpf release build`` and registered over REST, and a stdlib-only client that knows nothing
of this project runs the accepted, declined and incident flows.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from demos.restaurant_approval.pipeline import PIPELINE_ID
from demos.restaurant_approval.server import TENANT, TOKEN, DemoServer

CLIENT = Path(__file__).with_name("original_client.py")


@pytest.fixture
def server(restaurant_server: DemoServer) -> DemoServer:
    return restaurant_server


def run_client(server: DemoServer, flow: str) -> dict[str, Any]:
    done = subprocess.run(
        # -I: isolated mode, so the client cannot import anything from this project.
        [sys.executable, "-I", str(CLIENT), server.base_url, TOKEN, TENANT, PIPELINE_ID, flow],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def test_accepted_order(server: DemoServer) -> None:
    seen = run_client(server, "accepted")
    submit = seen["submit"]
    assert set(submit) == {"executionId", "duplicate", "statusUrl", "submittedAtEpochMs"}
    assert submit["duplicate"] is False
    assert submit["statusUrl"].endswith(f"/executions/{submit['executionId']}")
    assert seen["interaction"]["stepId"] == "ProcessAwaitRestaurantDecisionService"
    assert seen["completion"]["status"] == "COMPLETED"
    assert seen["completion"]["duplicate"] is False
    assert seen["final"]["status"] == "SUCCEEDED"
    payload = seen["result"]["resultPayload"]
    assert payload["payloadEncoding"] == "application/tpf-transition+json"
    assert json.loads(payload["payload"])["outcome"] == "APPROVED"


def test_declined_order(server: DemoServer) -> None:
    seen = run_client(server, "declined")
    assert json.loads(seen["result"]["resultPayload"]["payload"])["outcome"] == "DECLINED"


def test_incident_and_redrive(server: DemoServer) -> None:
    seen = run_client(server, "incident")
    final = seen["final"]
    assert final["status"] == "FAILED"
    assert final["errorCode"] and "not a UUID" in final["errorMessage"]
    assert seen["result"]["resultPayload"] is None
    assert seen["redrive"]["previousStatus"] == "FAILED"
    assert seen["redrive"]["status"] == "QUEUED"
    assert seen["again"]["version"] > final["version"]
    eid = seen["submit"]["executionId"]
    assert any(
        "Execution moved to DLQ:" in line and eid in line for line in server.log().splitlines()
    )
