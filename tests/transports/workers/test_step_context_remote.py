"""A step that takes ``ctx: StepContext`` on a remote (REST) worker: the command envelope
carries the context (stored by the coordinator, never held by the worker), the result hands
back the outputs to store, and a pipeline without contexts keeps the original's envelopes."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import msgspec

from tests.engine.context_pipelines import CONTEXT_ID, Item, context_pipeline
from tests.engine.pipelines import FLAKY_ID, flaky_pipeline
from tests.transports.workers.remote_support import remote_coordinator
from tpf.core.records import ExecutionStatus
from tpf.transports.workers.remote.contracts import WorkerHandler

TENANT = "tenant-ctx"
DONE = (ExecutionStatus.SUCCEEDED, ExecutionStatus.FAILED)
PARKED = (*DONE, ExecutionStatus.WAITING_EXTERNAL)


@dataclass
class Recording:
    """The worker host behind the transport, recording each command and result envelope."""

    inner: WorkerHandler
    commands: list[dict[str, object]] = field(default_factory=list)
    results: list[dict[str, object]] = field(default_factory=list)

    async def execute(self, command_envelope: bytes) -> bytes:
        self.commands.append(msgspec.json.decode(command_envelope))
        answer = await self.inner.execute(command_envelope)
        self.results.append(msgspec.json.decode(answer))
        return answer

    async def capabilities(self, provider_name: str) -> bytes:
        return await self.inner.capabilities(provider_name)


async def test_a_remote_step_gets_the_same_context(tmp_path: Path) -> None:
    pipeline, seen = context_pipeline()
    async with remote_coordinator(tmp_path, pipeline, tenant=TENANT) as r:
        recording = Recording(r.transport.handler)
        r.transport.handler = recording
        c = r.coordinator
        eid = (await c.submit(TENANT, CONTEXT_ID, {"value": "ab"})).execution_id
        parked = await c.wait_for(TENANT, eid, PARKED, timeout_s=5.0)
        assert parked.status is ExecutionStatus.WAITING_EXTERNAL, parked.error_message
        assert parked.context_payload == {"Take": {"value": "AB"}, "Prepare": {"value": "ab->AB"}}
        [pending] = await c.pending(TENANT)
        await c.complete(
            TENANT,
            interaction_id=pending.interaction_id,
            response={"approved": False},
            actor="remote-approver",
        )
        done = await c.wait_for(TENANT, eid, DONE, timeout_s=5.0)
    assert done.status is ExecutionStatus.SUCCEEDED, done.error_message
    assert done.result_payload == {"summary": "ab->AB:False"}
    first, second = recording.commands
    assert first["context"] == {
        "inputTypeId": f"{Item.__module__}.Item",
        "inputPayload": {"value": "ab"},
        "outputs": {},
        "resumedAwait": None,
    }
    # After the await the context comes from the store: the worker kept nothing.
    context = second["context"]
    assert isinstance(context, dict)
    assert context["outputs"] == parked.context_payload
    resumed = context["resumedAwait"]
    assert isinstance(resumed, dict) and resumed["actor"] == "remote-approver"
    assert recording.results[0]["contextOutputs"] == parked.context_payload
    [finish] = seen.finish
    assert finish["take"] == Item("AB") and finish["actor"] == "remote-approver"
    assert finish["request"] == {"value": "ab->AB"}


async def test_a_pipeline_without_context_keeps_the_originals_envelopes(tmp_path: Path) -> None:
    pipeline, _ = flaky_pipeline(0)
    async with remote_coordinator(tmp_path, pipeline, tenant=TENANT) as r:
        recording = Recording(r.transport.handler)
        r.transport.handler = recording
        c = r.coordinator
        eid = (await c.submit(TENANT, FLAKY_ID, {"value": "v"})).execution_id
        done = await c.wait_for(TENANT, eid, DONE, timeout_s=5.0)
    assert done.status is ExecutionStatus.SUCCEEDED
    [command] = recording.commands
    [result] = recording.results
    assert "context" not in command
    assert "contextOutputs" not in result
