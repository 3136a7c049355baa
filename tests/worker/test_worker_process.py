"""``tpf worker`` processes serving a coordinator that requires a remote worker (the recipe's
shape): they register and heartbeat through the admin API, run the restaurant flows over REST
and gRPC, survive a sibling's SIGKILL mid-transition and drain on SIGTERM.

Each coordinator is in the test's process (tests/worker/support.py), each worker a subprocess
on free ports.
"""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from demos.restaurant_approval import pipeline as restaurant
from tests.engine.harness import ORDER, accepted, declined
from tests.ha.cluster import RESTAURANT, TENANT, free_port, poll
from tests.worker import gated_pipeline as gated
from tests.worker.support import (
    Edge,
    WorkerNode,
    coordinator_edge,
    next_record,
    start_worker,
    worker_properties,
)
from tpf.core.records import ExecutionStatus, WorkerState

DONE = (ExecutionStatus.SUCCEEDED, ExecutionStatus.FAILED, ExecutionStatus.DLQ)
PARKED = (*DONE, ExecutionStatus.WAITING_EXTERNAL)


def worker_node(tmp: Path, name: str, edge_url: str, ref: str, **kwargs: Any) -> WorkerNode:
    protocol = kwargs.get("protocol", "rest")
    config = tmp / f"{name}.properties"
    config.write_text(worker_properties(tmp / "nonces.sqlite3", protocol))
    return WorkerNode(name, config, tmp / f"{name}.log", (ref,), coordinator_url=edge_url, **kwargs)


async def order_flow(edge: Edge, decision: str) -> dict[str, Any]:
    c = edge.coordinator
    order = {**ORDER, "requestId": f"order-{decision}"}  # the request id keys the execution
    submitted = await c.submit(TENANT, restaurant.pipeline_id, order)
    eid = submitted.execution_id
    parked = await c.wait_for(TENANT, eid, PARKED, timeout_s=10.0)
    assert parked.status is ExecutionStatus.WAITING_EXTERNAL
    [interaction] = [i for i in await c.pending(TENANT) if i.execution_id == eid]
    order_id = interaction.request_payload["orderId"]
    answer = accepted(order_id) if decision == "accepted" else declined(order_id)
    await c.complete(TENANT, interaction_id=interaction.interaction_id, response=answer)
    final = await c.wait_for(TENANT, eid, DONE, timeout_s=10.0)
    assert final.status is ExecutionStatus.SUCCEEDED, final
    assert final.result_payload is not None
    return final.result_payload


async def metrics(node: WorkerNode) -> str:
    async with aiohttp.ClientSession() as http, http.get(node.base_url + "/q/metrics") as got:
        assert got.status == 200
        return await got.text()


@pytest.mark.parametrize("protocol", ["rest", "grpc"])
async def test_the_restaurant_flows_run_on_a_registered_worker(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, protocol: str
) -> None:
    port = free_port()
    target = f"http://127.0.0.1:{port}" if protocol == "rest" else f"127.0.0.1:{port}"
    async with coordinator_edge(tmp_path, monkeypatch, protocol, target) as edge:
        release = await edge.release(restaurant, tmp_path / "build")
        node = worker_node(tmp_path, "worker", edge.url, RESTAURANT, port=port, protocol=protocol)
        try:
            await start_worker(node)
            record = await next_record(edge.registered, node)
            assert (record.protocol, record.endpoint) == (protocol, target)
            assert record.worker_id == f"127.0.0.1:{port}@{release.release_version}"
            assert (record.contract_version, record.release_version) == (
                release.contract_version,
                release.release_version,
            )
            assert record.state is WorkerState.HEALTHY
            assert (await order_flow(edge, "accepted"))["outcome"] == "APPROVED"
            assert (await order_flow(edge, "declined"))["outcome"] == "DECLINED"
            text = await metrics(node)
        finally:
            await asyncio.to_thread(node.stop)  # off the loop: its drain calls reach the edge
    assert 'tpf_worker_transitions_total{outcome="COMPLETED"} 2.0' in text
    assert 'tpf_worker_transitions_total{outcome="WAITING_EXTERNAL"} 2.0' in text
    assert node.process is not None and node.process.returncode == 0


async def gated_execution(edge: Edge, tmp: Path) -> tuple[str, Path]:
    """Submit a gated execution and open its gate: its ``finish`` step is now running (it
    blocks on its first run until the release FIFO is written). Its id and the FIFO."""
    c = edge.coordinator
    log, marker, release = tmp / "steps.log", tmp / "marker", tmp / "release"
    os.mkfifo(release)
    eid = (await c.submit(TENANT, gated.PIPELINE_ID, {"log": str(log)})).execution_id
    parked = await c.wait_for(TENANT, eid, PARKED, timeout_s=10.0)
    assert parked.status is ExecutionStatus.WAITING_EXTERNAL
    [interaction] = await c.pending(TENANT)
    gate = {"log": str(log), "marker": str(marker), "release": str(release)}
    await c.complete(TENANT, interaction_id=interaction.interaction_id, response=gate)
    # The step runs in the worker process: its marker file is the only sign of it.
    await asyncio.to_thread(poll, marker.exists, bool, 10.0, "the finish step to start")
    return eid, release


async def test_a_transition_of_a_killed_worker_is_retried_on_another_and_committed_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first_port = free_port()
    async with coordinator_edge(
        tmp_path, monkeypatch, "rest", f"http://127.0.0.1:{first_port}"
    ) as edge:
        c = edge.coordinator
        await edge.release(gated.pipeline, tmp_path / "build")
        first = worker_node(tmp_path, "first", edge.url, gated.REF, port=first_port)
        second = worker_node(tmp_path, "second", edge.url, gated.REF)
        try:
            await start_worker(first)
            await next_record(edge.registered, first)
            eid, _ = await gated_execution(edge, tmp_path)
            await start_worker(second)  # a replica registered while the transition runs
            await next_record(edge.registered, second)
            first.kill()  # SIGKILL mid-transition: the coordinator's call fails
            final = await c.wait_for(TENANT, eid, DONE, timeout_s=10.0)
        finally:
            first.kill()
            await asyncio.to_thread(second.stop)
        counters = dict(c.engine.counters)
    assert final.status is ExecutionStatus.SUCCEEDED, second.log()
    assert final.result_payload == {"by_pid": second.pid}
    # The step ran twice (the killed run was never committed), everything else once.
    steps = (tmp_path / "steps.log").read_text().splitlines()
    assert steps == [f"prepare {first.pid}", f"finish {first.pid}", f"finish {second.pid}"]
    assert counters["parked"] == 1 and counters["succeeded"] == 1
    assert counters["retries_scheduled"] == 1
    assert counters.get("commits_refused", 0) == 0
    assert final.error_code is None or final.error_code.startswith("TRANSITION_WORKER_")


async def test_sigterm_drains_the_running_transition_then_marks_the_record_draining(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = free_port()
    async with coordinator_edge(tmp_path, monkeypatch, "rest", f"http://127.0.0.1:{port}") as edge:
        c = edge.coordinator
        await edge.release(gated.pipeline, tmp_path / "build")
        node = worker_node(tmp_path, "worker", edge.url, gated.REF, port=port)
        try:
            await start_worker(node)
            registered = await next_record(edge.registered, node)
            eid, release = await gated_execution(edge, tmp_path)
            assert node.process is not None
            node.process.send_signal(signal.SIGTERM)
            # Draining: no longer ready, so nothing new is sent; the record is untouched.
            await asyncio.to_thread(
                poll, lambda: node.client(5.0).ready(), lambda up: not up, 10.0, "not ready"
            )
            assert edge.drained.empty()
            assert (await c.status(TENANT, eid)).status is ExecutionStatus.RUNNING
            await asyncio.to_thread(release.write_text, "go")  # the transition finishes...
            final = await c.wait_for(TENANT, eid, DONE, timeout_s=10.0)
            drained = await next_record(edge.drained, node)  # ...then the record drains
            code = await asyncio.to_thread(node.process.wait, 10.0)
        finally:
            node.kill()
        records = await c.list_workers(TENANT, gated.PIPELINE_ID)
    assert final.status is ExecutionStatus.SUCCEEDED
    assert final.result_payload == {"by_pid": node.pid}  # answered by the draining worker
    assert drained.worker_id == registered.worker_id
    assert [r.state for r in records] == [WorkerState.DRAINING]
    assert code == 0, node.log()
    assert "tpf worker: stopped" in node.log()
