"""Where a remote worker is reached: a record's own endpoint, the configured target for a
record without one, and the target for an identity it serves (SQS by its configured identity,
with no capability call)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager

import pytest

from tests.engine.pipelines import flaky_pipeline
from tests.transports.workers.remote_support import InMemoryTransport, host_of, identity_of
from tpf.config.providers import ClosingStack, OpenContext
from tpf.config.settings import Settings
from tpf.core.clock import FakeClock
from tpf.core.records import ReleaseRecord, WorkerRecord
from tpf.transports.workers.remote.client import RemoteWorker
from tpf.transports.workers.remote.transports import (
    TRANSPORT_BUILDERS,
    record_client,
    target_client,
    usable_endpoint,
)

QUEUE = "http://sqs.local/000000000000/tpf-worker"


@contextmanager
def builder(protocol: str, transport: InMemoryTransport) -> Iterator[list[str | None]]:
    asked: list[str | None] = []
    previous = TRANSPORT_BUILDERS[protocol]

    async def build(ctx: OpenContext, endpoint: str | None) -> InMemoryTransport:
        asked.append(endpoint)
        return transport

    TRANSPORT_BUILDERS[protocol] = build  # type: ignore[assignment]
    try:
        yield asked
    finally:
        TRANSPORT_BUILDERS[protocol] = previous


@pytest.fixture
async def stack() -> AsyncIterator[ClosingStack]:
    stack = ClosingStack()
    try:
        yield stack
    finally:
        await stack.aclose()


def record(identity: tuple[str, str, str], protocol: str, endpoint: str) -> WorkerRecord:
    pid, cv, rv = identity
    return WorkerRecord(
        tenant_id="t1",
        pipeline_id=pid,
        contract_version=cv,
        release_version=rv,
        worker_id="w-1",
        protocol=protocol,
        endpoint=endpoint,
    )


def test_which_endpoints_are_addresses_of_their_protocol() -> None:
    assert usable_endpoint("rest", "http://worker:8181") == "http://worker:8181"
    assert usable_endpoint("rest", "worker-1") is None
    assert usable_endpoint("grpc", "worker:9000") == "worker:9000"
    assert usable_endpoint("grpc", "[::1]:9000") == "[::1]:9000"
    assert usable_endpoint("grpc", "http://worker:9000") is None
    assert usable_endpoint("sqs", QUEUE) == QUEUE
    assert usable_endpoint("sqs", "") is None


async def test_a_record_endpoint_gets_a_client_of_its_own(stack: ClosingStack) -> None:
    pipeline, _ = flaky_pipeline(0)
    host = host_of(pipeline)
    transport = InMemoryTransport(host, protocol="grpc")
    ctx = OpenContext(Settings(), FakeClock(), None, stack)
    identity = identity_of(host)
    with builder("grpc", transport) as asked:
        client = await record_client(ctx, identity, record(identity, "grpc", "worker:9000"), None)
        # No endpoint and no gRPC target configured: nothing can reach it.
        assert await record_client(ctx, identity, record(identity, "grpc", ""), None) is None
    assert isinstance(client, RemoteWorker)
    assert asked == ["worker:9000"]
    await client.start()
    assert transport.started
    assert await client.availability(release(identity)) is None
    await client.aclose()
    assert transport.closed  # its own transport closes with it


def release(identity: tuple[str, str, str]) -> ReleaseRecord:
    pid, cv, rv = identity
    return ReleaseRecord(tenant_id="t1", pipeline_id=pid, contract_version=cv, release_version=rv)


async def test_the_sqs_target_serves_the_configured_identity_without_a_capability_call(
    stack: ClosingStack,
) -> None:
    pipeline, _ = flaky_pipeline(0)
    host = host_of(pipeline)
    pid, cv, rv = identity = identity_of(host)
    transport = InMemoryTransport(host, protocol="sqs")
    settings = Settings().replace(
        worker_sqs__request_queue_url=QUEUE,
        worker_sqs__response_queue_url=QUEUE + "-responses",
        worker_sqs__shared_secret="s",
        worker_sqs__pipeline_id=pid,
        worker_sqs__contract_version=cv,
        worker_sqs__release_version=rv,
    )
    ctx = OpenContext(settings, FakeClock(), None, stack)
    with builder("sqs", transport) as asked:
        assert await target_client(ctx, (pid, cv, "other"), None) is None
        client = await target_client(ctx, identity, None)
        again = await record_client(ctx, identity, record(identity, "sqs", ""), None)
    assert isinstance(client, RemoteWorker) and isinstance(again, RemoteWorker)
    assert asked == [None]  # one transport for the target, opened once
    assert transport.started  # by the target, which owns it
    assert await client.availability(release(identity)) is None
    assert transport.capability_calls == 0
    await client.aclose()
    assert not transport.closed  # shared: closed with the coordinator's stack
    await stack.aclose()
    assert transport.closed


async def test_an_sqs_target_without_its_identity_is_unavailable(stack: ClosingStack) -> None:
    pipeline, _ = flaky_pipeline(0)
    host = host_of(pipeline)
    identity = identity_of(host)
    settings = Settings().replace(
        worker_sqs__request_queue_url=QUEUE,
        worker_sqs__response_queue_url=QUEUE + "-responses",
        worker_sqs__shared_secret="s",
    )
    ctx = OpenContext(settings, FakeClock(), None, stack)
    with builder("sqs", InMemoryTransport(host, protocol="sqs")):
        assert await target_client(ctx, identity, None) is None
        client = await record_client(ctx, identity, record(identity, "sqs", ""), None)
    assert client is not None
    reason = await client.availability(release(identity))
    assert reason is not None
    assert reason.startswith("SQS transition worker capability check failed: SQS worker ")
    assert "pipeline.orchestrator.worker.sqs.pipeline-id" in reason
