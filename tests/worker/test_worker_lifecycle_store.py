"""``tpf worker --lifecycle-store``: the worker writes its own records to the DynamoDB lifecycle
store the coordinator reads (moto over HTTP), without the admin API."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import pytest

from demos.restaurant_approval import pipeline as restaurant
from tests.aws import REGION, reset_moto
from tests.ha.cluster import RESTAURANT, TENANT, free_port
from tests.worker.support import WorkerNode, coordinator_edge, start_worker, worker_properties
from tests.worker.test_worker_process import order_flow
from tpf.aws.bootstrap import bootstrap_aws
from tpf.aws.clients import AwsClients
from tpf.config.settings import Settings
from tpf.core.records import WorkerState

P = "pipeline.orchestrator."


async def create_tables(settings: Settings) -> None:
    """What ``tpf bootstrap aws`` creates for these settings (the worker table), in-process."""
    aws = AwsClients(settings)
    try:
        await bootstrap_aws(settings, aws)
    finally:
        await aws.close()


async def test_records_written_to_the_shared_store_admit_and_drain(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, moto_endpoint: str
) -> None:
    reset_moto(moto_endpoint)
    dynamo = (
        f"{P}worker.lifecycle.provider=dynamo\n"
        f"{P}dynamo.region={REGION}\n"
        f"{P}dynamo.endpoint-override={moto_endpoint}\n"
    )
    port = free_port()
    async with coordinator_edge(
        tmp_path,
        monkeypatch,
        "rest",
        f"http://127.0.0.1:{port}",
        lifecycle=dynamo,
        prepare=create_tables,
    ) as edge:
        c = edge.coordinator
        release = await edge.release(restaurant, tmp_path / "build")
        config = tmp_path / "worker.properties"
        config.write_text(worker_properties(tmp_path / "nonces.sqlite3", extra=dynamo))
        node = WorkerNode(
            "worker",
            config,
            tmp_path / "worker.log",
            (RESTAURANT,),
            port=port,
            flags=("--lifecycle-store",),
        )
        try:
            await start_worker(node)
            # Admission reads the record the worker wrote: the submit is accepted at once.
            assert (await order_flow(edge, "accepted"))["outcome"] == "APPROVED"
            assert edge.registered.empty()  # the admin API was not called
            [record] = await c.list_workers(TENANT, restaurant.pipeline_id)
            assert record.worker_id == f"127.0.0.1:{port}@{release.release_version}"
            assert (record.protocol, record.state) == ("rest", WorkerState.HEALTHY)
            assert node.process is not None
            node.process.send_signal(signal.SIGTERM)
            code = await asyncio.to_thread(node.process.wait, 20.0)
        finally:
            await asyncio.to_thread(node.stop)
        [record] = await c.list_workers(TENANT, restaurant.pipeline_id)
    assert code == 0, node.log()
    assert record.state is WorkerState.DRAINING
