"""Issue 4's HA acceptance: three ``tpf serve`` processes, one truth in DynamoDB/SQS/S3.

Three coordinators share one configuration (``cluster.ha_properties``: the recipe's durable
shape on moto, ``sqs.local-loopback=false``). The release is registered and activated once,
through coordinator 1; each coordinator registers its own worker lifecycle record (protocol
``local``: each hosts the restaurant code in-process). Restaurant orders are submitted
round-robin across the three; each is completed through a *different* coordinator than the one
that accepted it; every 25th is completed with an ``orderId`` that is not a UUID, which
Finalize rejects with ``NonRetryableError`` (and ``max-retries=0``), so it fails terminally.

``make test`` runs 75 orders: 24 threads keep every coordinator busy with concurrent submits and
completions, and the three failing orders (24, 49, 74) are accepted by three different
coordinators and failed by three different ones, so each publishes a DLQ envelope the others
must not repeat. The 300-order run asserts the same under longer load, in ``make soak``.

"Each committed transition applied once": a clean run of one restaurant execution commits
exactly these versions (``tpf/lifecycle.py``, every change is ``version + 1``):

- v1: submit creates the record already leased to the accepting coordinator (QUEUED -> lease);
- v2: the first transition (Validate, Create Pending Approval) parks it WAITING_EXTERNAL;
- v4: the completion resumes it (``resume_after_await``, v3) and claims it (``lease``, v4) in
  one conditional write;
- v5: Finalize commits SUCCEEDED (or FAILED, with its DLQ envelope in the same write; clearing
  the envelope after publication does not bump the version).

A transition committed twice, a lost lease re-claimed, or a duplicate resume that got through
would each leave a higher version, so every execution must end at exactly v5. The canary, run
alone before the load, measures this too.
"""

from __future__ import annotations

import json
import re
import socket
import time
import urllib.request
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import boto3
import pytest

from demos.restaurant_approval import flows
from demos.restaurant_approval.pipeline import AWAIT_STEP_ID, PIPELINE_ID
from tests.aws import REGION
from tests.ha.cluster import ACCOUNT, TENANT, Node
from tests.ha.conftest import StartCluster
from tpf.client.rest import RestClient

pytestmark = pytest.mark.ha

DEFAULT_COUNT = 75  # the smallest run in which every coordinator fails one order: see above
SOAK_COUNT = 300
FAIL_EVERY = 25  # every 25th execution is completed with an orderId Finalize rejects
CLEAN_RUN_VERSION = 5
THREADS = 24


def decision_of(n: int) -> str:
    return "accepted" if n % 2 == 0 else "declined"


def failing(n: int) -> bool:
    return n % FAIL_EVERY == FAIL_EVERY - 1


def finished_result(client: RestClient, eid: str) -> tuple[dict[str, Any], str]:
    """Long-poll the result route until the execution is terminal: ``(status, outcome)``, the
    outcome being the order's (APPROVED/DECLINED) or the status when there is no result."""
    deadline = time.monotonic() + 60
    while True:
        result = client.result(eid, wait_ms=5_000)
        status = result["status"]
        if status["status"] in flows.TERMINAL:
            payload = result.get("resultPayload")
            outcome = json.loads(payload["payload"])["outcome"] if payload else status["status"]
            return status, str(outcome)
        assert time.monotonic() < deadline, f"{eid} did not finish: {status}"


def read_dlq(endpoint: str, expected: int, timeout_s: float = 60.0) -> list[dict[str, Any]]:
    """Every message on the DLQ: receive until ``expected`` arrived and then once more until
    the queue answers empty (so a duplicate published late is caught too)."""
    sqs = boto3.client("sqs", region_name=REGION, endpoint_url=endpoint)
    url = f"{endpoint}/{ACCOUNT}/tpf-execution-dlq"
    bodies: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout_s
    while True:
        answer = sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1, VisibilityTimeout=300
        )
        messages = answer.get("Messages", [])
        bodies += [json.loads(m["Body"]) for m in messages]
        if not messages and len(bodies) >= expected:
            return bodies
        assert time.monotonic() < deadline, f"{len(bodies)} of {expected} DLQ messages arrived"


# 300 orders: ~45 s on 2 cores; moto, not the coordinators, is the bottleneck.
@pytest.mark.timeout(300)
@pytest.mark.parametrize(
    "count", [DEFAULT_COUNT, pytest.param(SOAK_COUNT, marks=pytest.mark.slow)], ids=str
)
def test_three_coordinators_share_one_truth(
    cluster: StartCluster,
    ha_endpoint: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    count: int,
) -> None:
    # The run proves the DLQ property only if every coordinator accepts and fails some order.
    failing_orders = [n for n in range(count) if failing(n)]
    assert {n % 3 for n in failing_orders} == {(n + 1) % 3 for n in failing_orders} == {0, 1, 2}
    monkeypatch.setattr(flows, "say", lambda text: None)  # 2 progress lines per order help nobody
    started = time.monotonic()
    nodes: list[Node] = cluster(3, max_retries=0)
    clients = [node.client() for node in nodes]
    active = flows.prepare_release(clients[0], tmp_path / "build")  # + coordinator 1's worker
    for i, client in enumerate(clients[1:], start=2):
        client.register_worker(
            PIPELINE_ID,
            workerId=f"restaurant-worker-{i}",
            contractVersion=active["contractVersion"],
            releaseVersion=active["releaseVersion"],
            protocol="local",
            endpoint="in-process",
            artifactId=active["primaryArtifactId"],
            artifactDigest=active["primaryArtifactDigest"],
        )
    workers = clients[2].list_workers(PIPELINE_ID)
    by_hand = {flows.WORKER_ID, "restaurant-worker-2", "restaurant-worker-3"}
    # Coordinator 1 announced its own record when the release was registered through it.
    assert {w["workerId"] for w in workers} == {*by_hand, own_worker_id(nodes[0], active)}
    assert {w["state"] for w in workers} == {"HEALTHY"}
    ready = time.monotonic()

    # A canary, alone: the version a clean run ends at.
    canary = flows.submit_order(clients[0], "Canary", "Trattoria", "1 x soup")
    flows.wait_for(clients[0], canary, {"WAITING_EXTERNAL"})
    flows.complete(clients[1], flows.pending_for(clients[1], canary), "accepted")
    canary_status = flows.wait_for(clients[1], canary, flows.TERMINAL)
    assert canary_status["status"] == "SUCCEEDED", canary_status
    assert canary_status["version"] == CLEAN_RUN_VERSION, canary_status

    def submit_and_park(n: int) -> str:
        client = clients[n % 3]
        eid = flows.submit_order(client, f"Customer {n}", f"Restaurant {n % 7}", f"{n} x pasta")
        status = flows.wait_for(client, eid, {"WAITING_EXTERNAL"})
        assert status["status"] == "WAITING_EXTERNAL", (n, status)
        return eid

    with ThreadPoolExecutor(THREADS) as pool:
        ids = list(pool.map(submit_and_park, range(count)))
    assert len(set(ids)) == count
    parked = time.monotonic()

    pending = {p["executionId"]: p for p in clients[1].pending(step_id=AWAIT_STEP_ID, limit=1000)}
    assert set(pending) == set(ids)

    def complete_and_finish(n: int) -> tuple[dict[str, Any], str]:
        client = clients[(n + 1) % 3]  # never the coordinator that accepted it
        eid = ids[n]
        bad = "not-a-uuid" if failing(n) else None
        answer = flows.complete(client, pending[eid], decision_of(n), order_id=bad)
        assert (answer["status"], answer["duplicate"]) == ("COMPLETED", False), answer
        return finished_result(client, eid)

    with ThreadPoolExecutor(THREADS) as pool:
        finished = list(pool.map(complete_and_finish, range(count)))
    done = time.monotonic()

    wrong: list[tuple[int, dict[str, Any], str]] = []
    for n, (status, outcome) in enumerate(finished):
        if failing(n):
            ok = status["status"] == "FAILED" and status["errorCode"] and outcome == "FAILED"
        else:
            expected = "APPROVED" if decision_of(n) == "accepted" else "DECLINED"
            ok = status["status"] == "SUCCEEDED" and outcome == expected
        if not ok or status["version"] != CLEAN_RUN_VERSION:
            wrong.append((n, status, outcome))
    assert not wrong, wrong[:10]
    statuses = Counter(status["status"] for status, _ in finished)
    failures = {ids[n] for n in range(count) if failing(n)}
    assert statuses == {"SUCCEEDED": count - len(failures), "FAILED": len(failures)}
    assert clients[2].pending(step_id=AWAIT_STEP_ID, limit=1000) == []
    # Each coordinator admitted submissions, so each keeps its own record, one per port.
    announced = {w["workerId"]: w["state"] for w in clients[0].list_workers(PIPELINE_ID)}
    for node in nodes:
        assert announced[own_worker_id(node, active)] == "HEALTHY", announced

    # One DLQ envelope per failing execution (spec §3.6), published by whichever coordinator
    # failed it, and no second copy from the others.
    envelopes = read_dlq(ha_endpoint, len(failures))
    by_execution = Counter(e["executionId"] for e in envelopes)
    assert set(by_execution) == failures, by_execution
    assert all(copies == 1 for copies in by_execution.values()), by_execution
    for envelope in envelopes:
        assert envelope["tenantId"] == TENANT
        assert envelope["terminalStatus"] == "FAILED"
        assert envelope["terminalReason"] == "non_retryable"
        assert envelope["retryable"] is False
        assert envelope["errorCode"]
        assert "not a UUID" in envelope["errorMessage"]
        assert envelope["transitionKey"] == f"{envelope['executionId']}:3:0"
        assert envelope["correlationId"] == envelope["executionKey"]
    requests = sum((aws_requests(node) for node in nodes), Counter())
    per_execution = {k: round(v / (count + 1), 1) for k, v in sorted(requests.items())}
    print(
        f"HA: AWS requests per execution (3 coordinators, background polls included): "
        f"{sum(requests.values()) / (count + 1):.1f} {per_execution}"
    )
    print(
        f"HA: start {ready - started:.1f} s, {count} submitted and parked in "
        f"{parked - ready:.1f} s, completed in {done - parked:.1f} s "
        f"({count / (done - ready):.0f} executions/s end to end)"
    )

    # A clean shutdown drains that coordinator's record and no other (one host, one table).
    nodes[2].stop()
    after = {w["workerId"]: w["state"] for w in clients[0].list_workers(PIPELINE_ID)}
    assert after[own_worker_id(nodes[2], active)] == "DRAINING", after
    for node in nodes[:2]:
        assert after[own_worker_id(node, active)] == "HEALTHY", after


def own_worker_id(node: Node, release: dict[str, Any]) -> str:
    """The worker record a coordinator keeps for the code it hosts (host:port@release)."""
    return f"{socket.gethostname()}:{node.port}@{release['releaseVersion']}"


def aws_requests(node: Node) -> Counter[str]:
    """The node's ``tpf_aws_requests`` counters by service, from ``/q/metrics``."""
    with urllib.request.urlopen(f"{node.base_url}/q/metrics", timeout=30) as response:
        text = response.read().decode()
    found: Counter[str] = Counter()
    for match in re.finditer(r'^tpf_aws_requests_total\{service="(\w+)"\} (\S+)$', text, re.M):
        found[match[1]] += int(float(match[2]))
    return found
