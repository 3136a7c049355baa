"""The worker directory, the contract validators and the local worker's lifecycle, in isolation."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.engine.pipelines import assigned_pipeline, blocking_pipeline
from tpf.core.clock import FakeClock
from tpf.core.errors import ValidationError
from tpf.core.interactions import new_interaction
from tpf.core.records import (
    AwaitInteraction,
    TransitionCommand,
    WorkerEvent,
    WorkerEventType,
    WorkerRecord,
)
from tpf.stores.memory import MemoryWorkerStore
from tpf.transports.workers.directory import WorkerDirectory
from tpf.transports.workers.local import LocalTransitionWorker
from tpf.transports.workers.pool import WorkerPool
from tpf.transports.workers.validators import UNCHECKED, ContractTypesValidator

TENANT = "t1"


def command_for(worker: LocalTransitionWorker, execution_id: str) -> TransitionCommand:
    pid, cv, rv = worker.identity
    return TransitionCommand(
        tenant_id=TENANT,
        execution_id=execution_id,
        pipeline_id=pid,
        contract_version=cv,
        release_version=rv,
        current_step_index=0,
        transition_key=f"{execution_id}:0:0",
        trace_id=f"{execution_id}:0:0",
        payload='{"value": "v"}',
    )


def directory_lookup(factory: Any) -> Any:
    return lambda name: factory if name == "fake" else None


def interaction_of(pipeline_step: Any, index: int) -> AwaitInteraction:
    return new_interaction(
        tenant_id=TENANT,
        execution_id="e-1",
        step_id=pipeline_step.step_id,
        step_index=index,
        attempt=0,
        output_type=pipeline_step.output_type_id,
        request_payload={"value": "v"},
        key_fields=(),
        timeout_ms=0,
        now_ms=0,
    )


async def test_local_cancel_stops_a_running_transition_and_aclose_the_rest() -> None:
    pipeline, gate = blocking_pipeline()
    worker = LocalTransitionWorker(pipeline, FakeClock())
    first = asyncio.create_task(worker.execute(command_for(worker, "e-1")))
    await gate.entered.wait()
    await worker.cancel(TENANT, "other")  # not running here: nothing happens
    assert not first.done()
    await worker.cancel(TENANT, "e-1")
    with pytest.raises(asyncio.CancelledError):
        await first
    assert gate.cancelled == 1
    gate.entered.clear()
    second = asyncio.create_task(worker.execute(command_for(worker, "e-2")))
    await gate.entered.wait()
    await worker.aclose()
    with pytest.raises(asyncio.CancelledError):
        await second
    assert gate.cancelled == 2


async def test_directory_adds_removes_and_validates_through_the_worker() -> None:
    pipeline = assigned_pipeline("test.assigned", "Approve", "ada", "ops")
    worker = LocalTransitionWorker(pipeline, FakeClock())
    directory = WorkerDirectory()
    assert directory.validator(worker.identity) is UNCHECKED
    directory.add(worker)
    assert directory.get(worker.identity) is worker
    assert await directory.resolve(TENANT, worker.identity) is worker
    with pytest.raises(ValidationError, match="inputPayload"):
        directory.validator(worker.identity).decode_input({"nope": 1})
    await_index = next(s.index for s in pipeline.steps if s.kind == "await")
    interaction = interaction_of(pipeline.steps[await_index], await_index)
    with pytest.raises(ValidationError, match="responsePayload"):
        directory.validate_response(interaction, {"approved": "not a bool"})
    assert directory.remove(worker.identity) is worker
    assert directory.get(worker.identity) is None
    # Known nowhere here: passed on unchecked.
    assert directory.validate_response(interaction, {"approved": "x"}) == {"approved": "x"}


async def test_directory_builds_clients_from_records_of_a_known_protocol_only() -> None:
    records = MemoryWorkerStore()
    identity = ("p", "sha256:c", "r1")
    built: list[WorkerRecord] = []

    class Client:
        protocol = "fake"
        code_digest = None
        validator = UNCHECKED

        def __init__(self) -> None:
            self.identity = identity
            self.closed = False

        async def start(self) -> None:
            return None

        async def aclose(self) -> None:
            self.closed = True

    async def factory(wanted: tuple[str, str, str], record: WorkerRecord, contract: Any) -> Any:
        built.append(record)
        return Client()

    directory = WorkerDirectory(records, directory_lookup(factory))
    assert await directory.resolve(TENANT, identity) is None
    for worker_id, protocol in (("w-local", "local"), ("w-fake", "fake")):
        await records.append(
            WorkerEvent(
                tenant_id=TENANT,
                pipeline_id="p",
                worker_id=worker_id,
                event_type=WorkerEventType.REGISTER,
                contract_version="sha256:c",
                release_version="r1",
                protocol=protocol,
                at_epoch_ms=1,
            )
        )
    pool = await directory.resolve(TENANT, identity)
    assert isinstance(pool, WorkerPool)  # the identity's registered workers, one client each
    [client] = pool.members
    assert isinstance(client, Client)
    assert [r.worker_id for r in built] == ["w-fake"]
    assert await directory.resolve(TENANT, identity) is pool  # cached, not built again
    await directory.aclose()
    assert client.closed
    assert directory.get(identity) is None
    # A drained worker still gets a client: it runs the executions pinned to its release until
    # they finish (new submissions are refused by admission's lifecycle check)...
    await records.append(
        WorkerEvent(
            tenant_id=TENANT,
            pipeline_id="p",
            worker_id="w-fake",
            event_type=WorkerEventType.DRAIN,
            at_epoch_ms=2,
        )
    )
    built.clear()
    assert await WorkerDirectory(records, directory_lookup(factory)).resolve(TENANT, identity)
    assert [r.worker_id for r in built] == ["w-fake"]
    # ...but one that is not draining is preferred.
    await records.append(
        WorkerEvent(
            tenant_id=TENANT,
            pipeline_id="p",
            worker_id="w-fake-2",
            event_type=WorkerEventType.REGISTER,
            contract_version="sha256:c",
            release_version="r1",
            protocol="fake",
            at_epoch_ms=3,
        )
    )
    built.clear()
    assert await WorkerDirectory(records, directory_lookup(factory)).resolve(TENANT, identity)
    assert [r.worker_id for r in built] == ["w-fake-2"]


def test_contract_validator_knows_type_ids_but_not_shapes() -> None:
    pipeline = assigned_pipeline("test.assigned", "Approve", "ada", "ops")
    validator = ContractTypesValidator(pipeline.contract())
    validator.decode_input({"anything": "goes"})  # a contract has no schema to check
    first = pipeline.steps[0].input_type_id
    assert validator.input_type_id("java.util.Map") == first
    assert validator.input_type_id("my.Type") == "my.Type"
    await_index = next(s.index for s in pipeline.steps if s.kind == "await")
    interaction = interaction_of(pipeline.steps[await_index], await_index)
    assert validator.covers(interaction)
    assert not validator.covers(interaction_of(pipeline.steps[await_index], await_index + 5))
    assert validator.validate_response(interaction, {"x": 1}) == {"x": 1}


async def test_a_client_that_cannot_be_built_means_no_worker_not_a_crash() -> None:
    records = MemoryWorkerStore()
    identity = ("p", "sha256:c", "r1")
    await records.append(
        WorkerEvent(
            tenant_id=TENANT,
            pipeline_id="p",
            worker_id="w-fake",
            event_type=WorkerEventType.REGISTER,
            contract_version="sha256:c",
            release_version="r1",
            protocol="fake",
            at_epoch_ms=1,
        )
    )

    async def factory(wanted: Any, record: WorkerRecord, contract: Any) -> Any:
        raise RuntimeError("pipeline.orchestrator.worker.fake.shared-secret is required")

    directory = WorkerDirectory(records, directory_lookup(factory))
    assert await directory.resolve(TENANT, identity) is None
    assert directory.get(identity) is None
