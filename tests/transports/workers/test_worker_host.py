"""The worker side: WorkerHost decodes, checks identity first, runs, encodes; it drains; its
capability answer is the original's PipelineWorkerCapability, matched by spec §6.3's rules."""

from __future__ import annotations

import asyncio
import json

import msgspec
import pytest

from tests.engine.pipelines import BLOCKING_ID, blocking_pipeline, flaky_pipeline
from tests.transports.workers.remote_support import command, host_of, identity_of
from tpf.transports.workers.local import LocalTransitionWorker
from tpf.transports.workers.remote.capability import (
    PipelineWorkerCapability,
    capability_mismatch,
    decode_capability,
    encode_capability,
)
from tpf.transports.workers.remote.contracts import MalformedRequest, WorkerNotReady
from tpf.transports.workers.remote.envelopes import (
    NON_RETRYABLE_CLASS,
    decode_result,
    encode_command,
)


async def test_runs_the_hosted_code_and_answers_with_the_result_envelope() -> None:
    pipeline, _ = flaky_pipeline(0)
    host = host_of(pipeline)
    result = decode_result(await host.execute(encode_command(command(identity_of(host)))))
    [payload] = result.output_payloads
    assert json.loads(payload.payload) == {"value": "a!"}


async def test_identity_mismatch_is_the_originals_failed_message() -> None:
    pipeline, calls = flaky_pipeline(0)
    host = host_of(pipeline)
    pid, cv, rv = identity_of(host)
    wanted = command((pid, cv, "other-release"))
    result = decode_result(await host.execute(encode_command(wanted)))
    assert result.failure is not None
    assert result.failure.message == (
        f"Transition command targets pipelineId={pid}, contractVersion={cv}, "
        f"releaseVersion=other-release but local worker is pipelineId={pid}, "
        f"contractVersion={cv}, releaseVersion={rv}"
    )
    assert result.failure.retryable is True
    assert calls.count == 0  # checked before anything runs
    assert host.counts == {"refused:identity_mismatch": 1}  # a refusal, not a transition run


async def test_failing_steps_are_failed_results_non_retryable_ones_in_the_originals_class() -> None:
    pipeline, _ = flaky_pipeline(1, non_retryable=True)
    host = host_of(pipeline)
    result = decode_result(await host.execute(encode_command(command(identity_of(host)))))
    assert result.failure is not None
    assert result.failure.failure_class == NON_RETRYABLE_CLASS
    assert result.failure.retryable is False
    assert result.failure.message == "rejected a"
    boom, _ = flaky_pipeline(1)
    retry_host = host_of(boom)
    raw = await retry_host.execute(encode_command(command(identity_of(retry_host))))
    again = decode_result(raw)
    assert again.failure is not None and again.failure.retryable is True
    assert host.counts == {"FAILED": 1}
    assert retry_host.counts == {"FAILED": 1, "FAILED_RETRYABLE": 1}


async def test_malformed_commands_and_no_code_are_refused() -> None:
    pipeline, _ = flaky_pipeline(0)
    host = host_of(pipeline)
    with pytest.raises(MalformedRequest):
        await host.execute(b'{"tenantId": 1}')
    empty = host_of()
    with pytest.raises(WorkerNotReady, match="no pipeline code"):
        await empty.execute(encode_command(command(identity_of(host))))
    with pytest.raises(WorkerNotReady):
        await empty.capabilities("rest")
    assert host.counts == {"refused:malformed": 1}
    assert empty.counts == {"refused:no_code": 1}


async def test_drain_refuses_new_transitions_and_waits_for_running_ones() -> None:
    pipeline, gate = blocking_pipeline()
    host = host_of(pipeline)
    running = asyncio.create_task(host.execute(encode_command(command(identity_of(host)))))
    await gate.entered.wait()
    assert host.in_flight == 1
    assert await host.drain(0.01) is False  # still running: the drain times out...
    assert host.draining
    with pytest.raises(WorkerNotReady, match="draining"):  # ...and refuses new work meanwhile
        await host.execute(encode_command(command(identity_of(host), "e-2")))
    drained = asyncio.create_task(host.drain(5.0))
    gate.release.set()
    assert await drained is True
    assert decode_result(await running).failure is None
    assert host.in_flight == 0
    assert host.counts == {"COMPLETED": 1, "refused:draining": 1}


async def test_capabilities_name_the_hosted_identity_and_configured_artifact() -> None:
    pipeline, _ = blocking_pipeline()
    host = host_of(pipeline, artifact_id="restaurant-worker", artifact_digest="sha256:feed")
    raw = await host.capabilities("rest")
    pid, cv, rv = identity_of(host)
    assert json.loads(raw) == {
        "protocolVersion": "1",
        "providerName": "rest",
        "pipelineId": pid,
        "contractVersion": cv,
        "releaseVersion": rv,
        "artifactId": "restaurant-worker",
        "artifactDigest": "sha256:feed",
        "payloadEncodings": ["application/tpf-transition-envelope+json"],
        "workerProtocols": ["local", "rest", "grpc", "sqs"],
    }
    assert decode_capability(raw).identity == (BLOCKING_ID, cv, rv)


def test_capability_match_rules() -> None:
    identity = ("p", "sha256:c", "v1")
    capability = PipelineWorkerCapability(
        provider_name="rest",
        pipeline_id="p",
        contract_version="sha256:c",
        release_version="v1",
        artifact_id="a",
        artifact_digest="sha256:d",
    )
    assert capability_mismatch(capability, identity) is None
    assert capability_mismatch(capability, identity, artifact_id="a", artifact_digest="") is None
    newer = msgspec.structs.replace(capability, protocol_version="2")
    assert "protocol version is unsupported" in str(capability_mismatch(newer, identity))
    assert decode_capability(encode_capability(capability)) == capability
    other = capability_mismatch(capability, ("p", "sha256:c", "v2"))
    assert other == (
        "Worker hosts pipelineId=p, contractVersion=sha256:c, releaseVersion=v1 but active "
        "release is pipelineId=p, contractVersion=sha256:c, releaseVersion=v2"
    )
    assert "artifactDigest=sha256:d, release artifactDigest=sha256:e" in str(
        capability_mismatch(capability, identity, artifact_digest="sha256:e")
    )
    assert "artifactId" in str(capability_mismatch(capability, identity, artifact_id="b"))
    with pytest.raises(MalformedRequest):
        decode_capability(b'{"protocolVersion": "1"}')


async def test_a_host_over_several_releases_runs_each_under_its_identity() -> None:
    one, _ = flaky_pipeline(0)
    two, _ = flaky_pipeline(0, pipeline_id="test.other")
    host = host_of(one, two)
    for worker in host.workers.all():
        assert isinstance(worker, LocalTransitionWorker)
        result = decode_result(await host.execute(encode_command(command(worker.identity))))
        assert json.loads(result.output_payloads[0].payload) == {"value": "a!"}
