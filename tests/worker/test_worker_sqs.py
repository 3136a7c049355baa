"""``tpf worker --protocol sqs``: the recipe's shape with SQS request/reply between the
coordinator and its worker, on moto's server. The worker polls the request queue and answers on
the response queue; the coordinator's shared response consumer hands each answer to its call."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from demos.restaurant_approval import pipeline as restaurant
from tests.aws import REGION, reset_moto
from tests.ha.cluster import RESTAURANT
from tests.transports.workers.sqs_worker_kit import counts, create_queue
from tests.worker.support import WorkerNode, coordinator_edge, next_record, start_worker
from tests.worker.support import worker_properties as base_worker_properties
from tests.worker.test_worker_process import metrics, order_flow
from tpf.aws.clients import AwsClients
from tpf.config import load_settings

P = "pipeline.orchestrator."


def sqs_lines(endpoint: str, response_url: str) -> str:
    return (
        f"{P}worker.sqs.response-queue-url={response_url}\n"
        f"{P}sqs.endpoint-override={endpoint}\n"
        f"{P}sqs.region={REGION}\n"
    )


async def queues(endpoint: str) -> tuple[AwsClients, str, str]:
    reset_moto(endpoint)
    settings = load_settings(
        {}, overrides={f"{P}sqs.endpoint-override": endpoint, f"{P}sqs.region": REGION}
    )
    aws = AwsClients(settings)
    return (
        aws,
        await create_queue(aws, "restaurant-worker-requests"),
        await create_queue(aws, "restaurant-worker-responses"),
    )


async def test_the_restaurant_flows_run_on_an_sqs_worker(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, moto_endpoint: str
) -> None:
    aws, request_url, response_url = await queues(moto_endpoint)
    lines = sqs_lines(moto_endpoint, response_url)
    try:
        async with coordinator_edge(tmp_path, monkeypatch, "sqs", request_url, extra=lines) as edge:
            await edge.release(restaurant, tmp_path / "build")
            config = tmp_path / "worker.properties"
            config.write_text(
                base_worker_properties(
                    tmp_path / "nonces.sqlite3",
                    "sqs",
                    f"{P}worker.sqs.request-queue-url={request_url}\n" + lines,
                )
            )
            node = WorkerNode(
                "worker",
                config,
                tmp_path / "worker.log",
                (RESTAURANT,),
                coordinator_url=edge.url,
                protocol="sqs",
            )
            try:
                await start_worker(node)
                record = await next_record(edge.registered, node)
                assert (record.protocol, record.endpoint) == ("sqs", request_url)
                assert (await order_flow(edge, "accepted"))["outcome"] == "APPROVED"
                assert (await order_flow(edge, "declined"))["outcome"] == "DECLINED"
                text = await metrics(node)
            finally:
                await asyncio.to_thread(node.stop)
        assert 'tpf_worker_transitions_total{outcome="COMPLETED"} 2.0' in text
        assert node.process is not None and node.process.returncode == 0
        for url in (request_url, response_url):  # every request answered, every answer taken
            assert sum((await counts(aws, url)).values()) == 0
    finally:
        await aws.close()


async def test_an_sqs_worker_on_a_missing_queue_refuses_to_start_naming_it(
    tmp_path: Path, moto_endpoint: str
) -> None:
    from tpf.core.errors import ConfigError
    from tpf.worker.process import WorkerOptions, WorkerProcess

    aws, request_url, response_url = await queues(moto_endpoint)
    await aws.close()
    missing = response_url.replace("responses", "nowhere")
    settings = load_settings(
        {"TPF_WORKER_SECRET": "s"},
        overrides={
            f"{P}worker.sqs.shared-secret": "s",
            f"{P}worker.sqs.request-queue-url": request_url,
            f"{P}worker.sqs.response-queue-url": missing,
            f"{P}sqs.endpoint-override": moto_endpoint,
            f"{P}sqs.region": REGION,
            f"{P}state-provider": "memory",
            "tpf.worker.nonce-store": "memory",
        },
    )
    options = WorkerOptions(protocol="sqs", http_port=0)
    process = WorkerProcess(settings, [(restaurant, None)], options)
    with pytest.raises(ConfigError, match=r"worker\.sqs\.response-queue-url=\S*nowhere"):
        await process.start()
