"""What a ``tpf worker`` refuses, on the wire: tampered, stale and replayed requests (also a
replay to another replica sharing its SQLite nonce file), a command for code it does not host
(the original's FAILED message), and a configuration it cannot serve with."""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import orjson
import pytest

from tests.ha.cluster import RESTAURANT, ROOT, child_env, tpf
from tests.worker.support import SECRET, WorkerNode, start_worker, worker_properties
from tpf.core.clock import FakeClock, SystemClock
from tpf.core.records import TransitionCommand, TransitionOutcome
from tpf.transports.workers.remote.capability import decode_capability
from tpf.transports.workers.remote.contracts import REST_CAPABILITIES_PATH, REST_EXECUTE_PATH
from tpf.transports.workers.remote.envelopes import decode_result, encode_command
from tpf.transports.workers.remote.signing import Signer, Stamp


def headers(stamp: Stamp) -> dict[str, str]:
    return {
        "X-TPF-Worker-Timestamp": stamp.timestamp,
        "X-TPF-Worker-Nonce": stamp.nonce,
        "X-TPF-Worker-Signature": stamp.signature,
    }


def node(tmp: Path, name: str) -> WorkerNode:
    config = tmp / f"{name}.properties"
    config.write_text(worker_properties(tmp / "shared-nonces.sqlite3"))  # one file for both
    return WorkerNode(name, config, tmp / f"{name}.log", (RESTAURANT,), tenants=())


@pytest.fixture
async def replicas(tmp_path: Path) -> AsyncIterator[tuple[WorkerNode, WorkerNode]]:
    """Two replicas of the restaurant worker on one host, sharing their nonce file."""
    pair = (node(tmp_path, "replica-a"), node(tmp_path, "replica-b"))
    try:
        await asyncio.gather(*(start_worker(n) for n in pair))
        yield pair
    finally:
        await asyncio.gather(*(asyncio.to_thread(n.stop) for n in pair))


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def capabilities(
    http: aiohttp.ClientSession, worker: WorkerNode, stamp: Stamp
) -> tuple[int, bytes]:
    url = worker.base_url + REST_CAPABILITIES_PATH
    async with http.get(url, headers=headers(stamp)) as response:
        return response.status, await response.read()


async def execute(
    http: aiohttp.ClientSession, worker: WorkerNode, body: bytes, stamp: Stamp
) -> tuple[int, bytes]:
    url = worker.base_url + REST_EXECUTE_PATH
    async with http.post(url, data=body, headers=headers(stamp)) as response:
        return response.status, await response.read()


def reason(body: bytes) -> str:
    return str(orjson.loads(body)["error"]["message"])


async def test_signed_requests_are_checked_and_a_replay_is_refused_by_every_replica(
    replicas: tuple[WorkerNode, WorkerNode], http: aiohttp.ClientSession
) -> None:
    a, b = replicas
    signer = Signer(SECRET, SystemClock())
    stamp = signer.stamp("GET", REST_CAPABILITIES_PATH, b"")
    status, body = await capabilities(http, a, stamp)
    assert status == 200
    hosted = decode_capability(body)
    assert (hosted.provider_name, hosted.pipeline_id) == (
        "rest",
        "org.pipelineframework.restaurantapproval",
    )
    # The same request captured and sent to the other replica: its nonce is spent there too.
    status, body = await capabilities(http, b, stamp)
    assert (status, reason(body)) == (401, "signature refused: replayed")
    # A body that is not the one signed, and a request signed three minutes ago.
    signed = signer.stamp("POST", REST_EXECUTE_PATH, b'{"tenantId":"t"}')
    status, body = await execute(http, a, b'{"tenantId":"evil"}', signed)
    assert (status, reason(body)) == (401, "signature refused: signature")
    late = Signer(SECRET, FakeClock(SystemClock().now_ms() - 180_000))
    status, body = await execute(http, b, b"{}", late.stamp("POST", REST_EXECUTE_PATH, b"{}"))
    assert (status, reason(body)) == (401, "signature refused: stale")
    wrong = Signer("not-the-secret", SystemClock()).stamp("GET", REST_CAPABILITIES_PATH, b"")
    assert (await capabilities(http, a, wrong))[0] == 401
    async with http.get(b.base_url + "/q/metrics") as response:
        text = await response.text()
    assert 'tpf_worker_refusals_total{reason="replayed"} 1.0' in text
    assert 'tpf_worker_refusals_total{reason="stale"} 1.0' in text


async def test_a_command_for_code_it_does_not_host_is_the_originals_failed_result(
    replicas: tuple[WorkerNode, WorkerNode], http: aiohttp.ClientSession
) -> None:
    a, _ = replicas
    signer = Signer(SECRET, SystemClock())
    status, body = await capabilities(http, a, signer.stamp("GET", REST_CAPABILITIES_PATH, b""))
    hosted = decode_capability(body)
    command = encode_command(
        TransitionCommand(
            tenant_id="restaurant-demo",
            execution_id="e-1",
            pipeline_id=hosted.pipeline_id,
            contract_version=hosted.contract_version,
            release_version="v-elsewhere",
            current_step_index=0,
            transition_key="e-1:0:0",
            trace_id="e-1:0:0",
        )
    )
    status, body = await execute(http, a, command, signer.stamp("POST", REST_EXECUTE_PATH, command))
    assert status == 200
    result = decode_result(body)
    assert result.outcome is TransitionOutcome.FAILED and result.failure is not None
    assert result.failure.message == (
        f"Transition command targets pipelineId={hosted.pipeline_id}, "
        f"contractVersion={hosted.contract_version}, releaseVersion=v-elsewhere but local "
        f"worker is pipelineId={hosted.pipeline_id}, contractVersion={hosted.contract_version}, "
        f"releaseVersion={hosted.release_version}"
    )
    async with http.get(a.base_url + "/q/metrics") as response:
        text = await response.text()
    assert 'tpf_worker_refusals_total{reason="identity_mismatch"} 1.0' in text
    assert 'tpf_worker_transitions_total{outcome="FAILED"} 0.0' in text  # nothing ran


@pytest.mark.parametrize(
    ("config", "args", "message"),
    [
        (
            "",
            (),
            "worker.rest.shared-secret or pipeline.orchestrator.worker.rest.shared-secret-ref",
        ),
        (
            "pipeline.orchestrator.worker.grpc.shared-secret-ref=env:TPF_WORKER_SECRET\n",
            ("--protocol", "grpc"),
            "tpf.worker.grpc.tls-cert-file",
        ),
        (
            "pipeline.orchestrator.worker.sqs.shared-secret-ref=env:TPF_WORKER_SECRET\n"
            "pipeline.orchestrator.worker.sqs.request-queue-url=http://127.0.0.1:1/q/req\n",
            ("--protocol", "sqs"),
            "worker.sqs.response-queue-url is required",
        ),
    ],
    ids=["no-secret", "grpc-without-tls", "sqs-without-its-queues"],
)
def test_a_worker_that_cannot_serve_refuses_to_start(
    tmp_path: Path, config: str, args: tuple[str, ...], message: str
) -> None:
    path = tmp_path / "worker.properties"
    path.write_text(config + "pipeline.orchestrator.state-provider=memory\n")
    env = child_env()
    if "TPF_WORKER_SECRET" not in config:
        del env["TPF_WORKER_SECRET"]  # no secret anywhere
    done = subprocess.run(
        tpf("worker", "--config", str(path), "--pipeline", RESTAURANT, "--port", "0", *args),
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2, done.stderr
    assert "tpf worker: invalid configuration" in done.stderr
    assert message in done.stderr
