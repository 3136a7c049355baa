"""A scrape on the durable shape (DynamoDB, SQS, S3 on moto) shows executions by status and
never Scans: the status counts come from counter items, the due and deadline gauges from
limit-1 reads of their sharded indexes (issue 12, item 1 and 4).

Every DynamoDB operation the coordinator's client sends during the scrape is counted through
botocore's events (:class:`tests.aws_calls.CallLog`), over real HTTP to moto's server.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient, TestServer

from demos.restaurant_approval import pipeline as restaurant_pipeline
from tests.aws_calls import CallLog
from tests.engine.harness import ORDER, PIPELINE_ID, TENANT
from tpf.aws.bootstrap import bootstrap_aws
from tpf.aws.clients import AwsClients
from tpf.config.settings import Settings
from tpf.coordinator import Coordinator
from tpf.core.records import ExecutionStatus
from tpf.engine.releases import build_release
from tpf.http.app import create_app


def sample(text: str, name: str) -> float:
    match = re.search(rf"^{re.escape(name)} (\S+)$", text, re.MULTILINE)
    assert match, f"{name} not in the scrape"
    return float(match.group(1))


async def test_a_dynamo_scrape_counts_statuses_without_a_scan(
    aws_settings: Settings, tmp_path: Path
) -> None:
    settings = aws_settings.replace(
        dlq__provider="log", sqs__local_loopback=True, workers__lifecycle_provider="dynamo"
    )
    aws = AwsClients(settings)
    try:
        await bootstrap_aws(settings, aws)
    finally:
        await aws.close()
    coordinator = await Coordinator.open(settings)
    assert coordinator.aws is not None
    client: TestClient[Any, Any] = TestClient(
        TestServer(create_app(coordinator, environ={}), host="127.0.0.1")
    )
    try:
        await coordinator.start()
        worker = coordinator.host(restaurant_pipeline)
        descriptor = build_release(restaurant_pipeline, tmp_path / "release")
        release = await coordinator.register_release(TENANT, PIPELINE_ID, str(descriptor))
        await coordinator.activate_release(TENANT, PIPELINE_ID, release.release_version)
        await coordinator.register_local_worker(TENANT, worker, "local-1")
        submitted = await coordinator.submit(TENANT, PIPELINE_ID, ORDER)
        parked = await coordinator.wait_for(
            TENANT, submitted.execution_id, [ExecutionStatus.WAITING_EXTERNAL], timeout_s=30
        )
        assert parked.status is ExecutionStatus.WAITING_EXTERNAL
        await client.start_server()
        calls = CallLog().attach(await coordinator.aws.client("dynamodb"))
        response = await client.get("/q/metrics")
        text = await response.text()
        assert response.status == 200
        assert calls.calls["Scan"] == 0, calls.calls
        assert sample(text, 'tpf_executions{status="WAITING_EXTERNAL"}') == 1
        assert sample(text, "tpf_await_pending") == 1
        assert "tpf_await_pending_oldest_deadline_timestamp_seconds " in text
        assert f'releaseVersion="{release.release_version}"' in text
        # Bounded: a handful of reads per scrape (counter items, one query per index shard,
        # the active release and worker records of the one pipeline), whatever the table holds.
        assert sum(calls.calls.values()) <= 80, calls.calls
    finally:
        await client.close()
        await coordinator.close()
