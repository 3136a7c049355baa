"""``tpf serve`` hosting two versions of one pipeline side by side, as the recipe's upgrade runbook
needs: deploy the new code next to the old, activate it, and let executions pinned to the old
release drain on the old code while new ones run the new code. Real processes: ``tpf release
build`` and ``tpf serve`` as subprocesses, the admin and control-plane APIs over HTTP.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from demos.restaurant_approval.server import ROOT, DemoServer, free_port, tpf_command
from tests.code_modules import ORDERS_ID, write_orders
from tpf.client.rest import RestClient


@pytest.fixture
def code(tmp_path: Path) -> Path:
    directory = tmp_path / "code"
    write_orders(directory, "orders_v1", marker="v1")
    write_orders(directory, "orders_v2", marker="v2")
    return directory


@pytest.fixture
def server(tmp_path: Path, code: Path) -> Iterator[DemoServer]:
    demo = DemoServer(
        tmp_path / "state",
        free_port(),
        extra_env={"PYTHONPATH": os.pathsep.join([str(code), str(ROOT)])},
        pipelines=("orders_v1:pipeline", "orders_v2:pipeline"),
    )
    demo.start()
    try:
        yield demo
    finally:
        demo.stop()


def release(client: RestClient, code: Path, ref: str, out: Path) -> str:
    """Build with ``tpf release build``, register, activate and register the in-process worker."""
    built = subprocess.run(
        tpf_command("release", "build", "--pipeline", ref, "--output", str(out)),
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": os.pathsep.join([str(code), str(ROOT)])},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert built.returncode == 0, built.stderr
    registered = client.register_release(ORDERS_ID, built.stdout.strip())
    version = str(registered["releaseVersion"])
    active = client.activate_release(ORDERS_ID, version)
    client.register_worker(
        ORDERS_ID,
        workerId=f"orders-{ref.partition(':')[0]}",
        contractVersion=active["contractVersion"],
        releaseVersion=version,
        protocol="local",
        endpoint="in-process",
    )
    return version


def parked(client: RestClient, execution_id: str) -> dict[str, object]:
    status: dict[str, object] = client.status(execution_id, wait_ms=10_000)
    assert status["status"] == "WAITING_EXTERNAL", status
    return status


def test_an_old_execution_drains_on_old_code_while_new_ones_run_new_code(
    server: DemoServer, code: Path, tmp_path: Path
) -> None:
    client = server.client()
    v1 = release(client, code, "orders_v1:pipeline", tmp_path / "build-v1")
    old = client.submit(ORDERS_ID, {"value": "a"}, idempotency_key="old")["executionId"]
    parked(client, old)

    v2 = release(client, code, "orders_v2:pipeline", tmp_path / "build-v2")
    assert v1 != v2  # same pipeline id and contract, different code: different releases
    assert client.active_release(ORDERS_ID)["releaseVersion"] == v2
    new = client.submit(ORDERS_ID, {"value": "b"}, idempotency_key="new")["executionId"]
    parked(client, new)

    for execution_id in (old, new):
        [task] = [p for p in client.pending(limit=1000) if p["executionId"] == execution_id]
        client.complete({"approved": True}, interaction_id=task["interactionId"], actor="ops")
    results = {}
    for execution_id in (old, new):
        assert client.status(execution_id, wait_ms=10_000)["status"] == "SUCCEEDED"
        results[execution_id] = client.result(execution_id)["resultPayload"]["payload"]
    assert '"marker":"v1"' in results[old].replace(" ", "")
    assert '"marker":"v2"' in results[new].replace(" ", "")
    log = server.log()
    assert f"release {v1}" in log and f"release {v2}" in log  # both hosted, each named
