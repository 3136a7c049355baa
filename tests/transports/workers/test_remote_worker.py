"""RemoteWorker over an in-memory transport: the envelope round trip to a WorkerHost, transport
failures and timeouts as retryable results, cancel, and the capability cache."""

from __future__ import annotations

import asyncio
import json

import pytest

from tests.engine.pipelines import blocking_pipeline, flaky_pipeline
from tests.transports.workers.remote_support import (
    InMemoryTransport,
    NeverAnswers,
    command,
    host_of,
    identity_of,
)
from tpf.core.clock import FakeClock
from tpf.core.records import ReleaseRecord, TransitionOutcome
from tpf.transports.workers.remote.client import CapabilityCache, RemoteWorker
from tpf.transports.workers.remote.contracts import TransportFailure
from tpf.transports.workers.validators import UNCHECKED, ContractTypesValidator


def release_of(identity: tuple[str, str, str], **artifact: str) -> ReleaseRecord:
    pid, cv, rv = identity
    return ReleaseRecord(
        tenant_id="t1", pipeline_id=pid, contract_version=cv, release_version=rv, **artifact
    )


async def test_execute_runs_the_transition_on_the_host() -> None:
    pipeline, _ = flaky_pipeline(0)
    host = host_of(pipeline)
    transport = InMemoryTransport(host)
    worker = RemoteWorker(transport, identity_of(host), clock=FakeClock(), request_timeout_s=12.5)
    await worker.start()
    assert transport.started and worker.protocol == "rest"
    result = await worker.execute(command(identity_of(host)))
    assert result.outcome is TransitionOutcome.COMPLETED
    assert json.loads(result.output_payloads[0].payload) == {"value": "a!"}
    assert transport.timeouts == [12.5]  # the protocol's request timeout, per call
    assert worker.code_digest is None
    await worker.aclose()
    assert transport.closed


async def test_a_worker_slower_than_the_request_timeout_is_a_retryable_failure() -> None:
    hung = NeverAnswers()
    worker = RemoteWorker(hung, ("p", "c", "r"), clock=FakeClock(), request_timeout_s=0.05)
    result = await worker.execute(command(("p", "c", "r")))
    assert result.outcome is TransitionOutcome.FAILED
    assert result.failure is not None
    assert result.failure.retryable is True
    assert result.failure.error_code == "TRANSITION_WORKER_TIMEOUT"
    assert result.failure.message == "REST transition worker timeout: no reply within 0.05 s"


@pytest.mark.parametrize(
    "category", ["timeout", "auth", "unavailable", "remote_server", "protocol", "unexpected"]
)
async def test_transport_failures_are_retryable_and_name_their_category(category: str) -> None:
    pipeline, calls = flaky_pipeline(0)
    host = host_of(pipeline)
    transport = InMemoryTransport(host, fail_with=TransportFailure(category, "it went wrong"))
    worker = RemoteWorker(transport, identity_of(host), clock=FakeClock())
    result = await worker.execute(command(identity_of(host)))
    assert result.failure is not None
    assert result.failure.retryable is True
    assert result.failure.error_code == f"TRANSITION_WORKER_{category.upper()}"
    assert result.failure.message == f"REST transition worker {category}: it went wrong"
    assert calls.count == 0


async def test_a_malformed_reply_is_a_retryable_malformed_failure() -> None:
    class Garbage(InMemoryTransport):
        async def execute(self, command_envelope: bytes, timeout_s: float) -> bytes:
            return b'{"outcome": "FAILED"}'  # FAILED without a failure

    pipeline, _ = flaky_pipeline(0)
    host = host_of(pipeline)
    worker = RemoteWorker(Garbage(host), identity_of(host), clock=FakeClock())
    result = await worker.execute(command(identity_of(host)))
    assert result.failure is not None and result.failure.retryable
    assert result.failure.error_code == "TRANSITION_WORKER_MALFORMED"
    assert "FAILED requires failure" in result.failure.message


async def test_cancel_stops_waiting_for_that_execution_at_once() -> None:
    transport = NeverAnswers()
    worker = RemoteWorker(transport, ("p", "c", "r"), clock=FakeClock())
    running = asyncio.create_task(worker.execute(command(("p", "c", "r"), "e-1")))
    await transport.waiting.wait()
    await worker.cancel("t1", "e-2")  # not running here: nothing happens
    assert running.cancelling() == 0  # no cancellation was requested of e-1's call
    await worker.cancel("t1", "e-1")
    with pytest.raises(asyncio.CancelledError):
        await running
    transport.waiting.clear()
    second = asyncio.create_task(worker.execute(command(("p", "c", "r"), "e-3")))
    await transport.waiting.wait()
    await worker.aclose()  # closing stops what still waits
    with pytest.raises(asyncio.CancelledError):
        await second


async def test_a_cancelled_call_through_the_host_cancels_the_step_too() -> None:
    """In memory the cancellation reaches the step; over a network only the wait stops, and
    the engine's version fence refuses a late result (tests/.../test_remote_run.py)."""
    pipeline, gate = blocking_pipeline()
    host = host_of(pipeline)
    worker = RemoteWorker(InMemoryTransport(host), identity_of(host), clock=FakeClock())
    running = asyncio.create_task(worker.execute(command(identity_of(host))))
    await gate.entered.wait()
    await worker.cancel("t1", "e-1")
    with pytest.raises(asyncio.CancelledError):
        await running
    assert gate.cancelled == 1
    assert host.in_flight == 0


async def test_capabilities_are_cached_briefly_and_shared_by_concurrent_askers() -> None:
    pipeline, _ = flaky_pipeline(0)
    host = host_of(pipeline)
    transport = InMemoryTransport(host)
    clock = FakeClock()
    worker = RemoteWorker(transport, identity_of(host), clock=clock)
    release = release_of(identity_of(host))
    answers = await asyncio.gather(*(worker.availability(release) for _ in range(5)))
    assert answers == [None] * 5
    assert transport.capability_calls == 1
    clock.advance(4_999)
    assert await worker.availability(release) is None
    assert transport.capability_calls == 1
    clock.advance(1)
    assert await worker.availability(release) is None
    assert transport.capability_calls == 2
    # A failure is not kept: the next ask calls again, and says why it failed.
    worker.capabilities.invalidate()
    transport.fail_with = TransportFailure("unavailable", "connection refused")
    assert await worker.availability(release) == (
        "REST transition worker capability check failed: connection refused"
    )
    transport.fail_with = None
    assert await worker.availability(release) is None
    assert transport.capability_calls == 4


async def test_availability_applies_the_match_rules_to_the_active_release() -> None:
    pipeline, _ = flaky_pipeline(0)
    host = host_of(pipeline, artifact_digest="sha256:aaa")
    worker = RemoteWorker(InMemoryTransport(host), identity_of(host), clock=FakeClock())
    pid, cv, _ = identity_of(host)
    assert "but active release is" in str(await worker.availability(release_of((pid, cv, "v9"))))
    digest = await worker.availability(
        release_of(identity_of(host), primary_artifact_digest="sha256:bbb")
    )
    assert digest is not None and "artifactDigest" in digest


async def test_a_malformed_capability_is_a_failed_check() -> None:
    async def garbage() -> bytes:
        return b"[1, 2]"

    cache = CapabilityCache(garbage, FakeClock())
    with pytest.raises(TransportFailure) as failed:
        await cache.get()
    assert failed.value.category == "malformed"


def test_the_validator_comes_from_the_release_contract() -> None:
    pipeline, _ = flaky_pipeline(0)
    transport = InMemoryTransport(host_of(pipeline))
    contract = pipeline.contract()
    identity = ("p", "c", "r")
    with_contract = RemoteWorker(transport, identity, clock=FakeClock(), contract=contract)
    assert isinstance(with_contract.validator, ContractTypesValidator)
    assert with_contract.validator.input_type_id("java.util.Map") == pipeline.steps[0].input_type_id
    assert RemoteWorker(transport, identity, clock=FakeClock()).validator is UNCHECKED
