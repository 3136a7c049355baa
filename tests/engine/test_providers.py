"""Provider tables: a new technology is one registered entry, and close() undoes open() in reverse.

Each test registers its fake entry for the length of the test only (``registered``), opens a
coordinator through ``Coordinator.open`` the way ``tpf serve`` does, and drives it with ``tick()``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.engine.pipelines import FLAKY_ID, flaky_pipeline
from tpf.authoring.build import build_release
from tpf.config import load_settings
from tpf.config.providers import OpenContext, Provider
from tpf.config.settings import Settings
from tpf.coordinator import Coordinator
from tpf.core.clock import FakeClock
from tpf.core.errors import ConfigError
from tpf.core.records import (
    AwaitInteraction,
    DeadLetterEnvelope,
    ExecutionStatus,
    PayloadEnvelope,
    TransitionCommand,
    TransitionOutcome,
    TransitionResult,
    WorkerRecord,
)
from tpf.stores.providers import STATE, StateStores
from tpf.transports.providers import DLQ_SINKS, WORK_QUEUES, WORKER_PROTOCOLS, WorkerProtocol
from tpf.transports.work.inproc import InProcessWorkQueue

TENANT = "t1"
DONE = (ExecutionStatus.SUCCEEDED, ExecutionStatus.FAILED)


def settings_for(tmp: Path, **properties: str) -> Settings:
    return load_settings(
        {},
        overrides={
            "tpf.state-dir": str(tmp / "state"),
            "pipeline.orchestrator.state-provider": "memory",
            "pipeline.orchestrator.releases.registry.provider": "memory",
            "pipeline.orchestrator.worker.lifecycle.provider": "memory",
            **properties,
        },
    )


async def release(c: Coordinator, tmp: Path, *, host: bool) -> Any:
    """Build, register and activate the flaky pipeline (hosted here only when ``host``)."""
    pipeline, _ = flaky_pipeline(1, non_retryable=True)
    descriptor = build_release(pipeline, tmp / "release")
    if host:
        worker = c.host(pipeline)
        record = await c.register_release(TENANT, FLAKY_ID, str(descriptor))
        await c.activate_release(TENANT, FLAKY_ID, record.release_version)
        await c.register_local_worker(TENANT, worker, "local-1")
        return record
    record = await c.register_release(TENANT, FLAKY_ID, str(descriptor))
    return await c.activate_release(TENANT, FLAKY_ID, record.release_version)


# ------------------------------------------------------------------ a fake worker protocol


class RecordingValidator:
    def __init__(self) -> None:
        self.inputs: list[Any] = []

    def decode_input(self, value: Any) -> None:
        self.inputs.append(value)

    def input_type_id(self, submitted: str | None) -> str | None:
        return "fake.Item" if submitted is None else submitted

    def covers(self, interaction: AwaitInteraction) -> bool:
        return False

    def validate_response(self, interaction: AwaitInteraction, response: Any) -> Any:
        return response


class FakeWorker:
    protocol = "fake"
    code_digest = None

    def __init__(self, identity: tuple[str, str, str], record: WorkerRecord) -> None:
        self.identity = identity
        self.record = record
        self.validator = RecordingValidator()
        self.commands: list[TransitionCommand] = []
        self.started = self.closed = False

    async def execute(self, command: TransitionCommand) -> TransitionResult:
        self.commands.append(command)
        return TransitionResult(
            outcome=TransitionOutcome.COMPLETED,
            output_payloads=(PayloadEnvelope(payload_type_id=None, payload='{"ran": "fake"}'),),
        )

    async def cancel(self, tenant_id: str, execution_id: str) -> None:
        return None

    async def start(self) -> None:
        self.started = True

    async def aclose(self) -> None:
        self.closed = True


async def test_a_registered_worker_protocol_runs_an_execution(tmp_path: Path) -> None:
    built: list[FakeWorker] = []

    async def client(
        ctx: OpenContext, identity: Any, record: WorkerRecord, contract: Any
    ) -> FakeWorker:
        worker = FakeWorker(identity, record)
        built.append(worker)
        return worker

    with WORKER_PROTOCOLS.registered(WorkerProtocol("fake", client)):
        c = await Coordinator.open(settings_for(tmp_path), clock=FakeClock())
        try:
            rec = await release(c, tmp_path, host=False)
            await c.register_worker(
                TENANT,
                FLAKY_ID,
                "fake-1",
                contract_version=rec.contract_version,
                release_version=rec.release_version,
                protocol="fake",
            )
            submitted = await c.submit(TENANT, FLAKY_ID, {"value": "a"})
            final = await c.wait_for(TENANT, submitted.execution_id, DONE, timeout_s=5.0)
        finally:
            await c.close()
    [worker] = built
    assert final.status is ExecutionStatus.SUCCEEDED
    assert final.result_payload == {"ran": "fake"}
    assert worker.identity == (FLAKY_ID, rec.contract_version, rec.release_version)
    assert worker.record.worker_id == "fake-1"
    [command] = worker.commands
    assert command.execution_id == submitted.execution_id
    # Submit validated through the worker's validator, not a pipeline object.
    assert worker.validator.inputs == [{"value": "a"}]
    assert submitted.record.input_type_id == "fake.Item"
    assert worker.started and worker.closed


# ------------------------------------------------------------------ a fake DLQ sink


class FakeSink:
    def __init__(self) -> None:
        self.envelopes: list[DeadLetterEnvelope] = []
        self.started = self.closed = False

    async def publish(self, envelope: DeadLetterEnvelope) -> None:
        assert not self.closed
        self.envelopes.append(envelope)

    async def start(self) -> None:
        self.started = True

    async def aclose(self) -> None:
        self.closed = True


async def test_a_registered_dlq_sink_receives_dead_letters_and_is_closed(tmp_path: Path) -> None:
    sinks: list[FakeSink] = []

    async def open_sink(ctx: OpenContext) -> FakeSink:
        sinks.append(FakeSink())
        return sinks[-1]

    async def close_sink(sink: FakeSink) -> None:
        await sink.aclose()

    with DLQ_SINKS.registered(Provider("fake", open_sink, close=close_sink)):
        # The configuration reads the table: the new name is a valid dlq-provider.
        settings = settings_for(tmp_path, **{"pipeline.orchestrator.dlq-provider": "fake"})
        c = await Coordinator.open(settings, clock=FakeClock())
        try:
            await release(c, tmp_path, host=True)
            submitted = await c.submit(TENANT, FLAKY_ID, {"value": "a"})
            failed = await c.wait_for(TENANT, submitted.execution_id, DONE, timeout_s=5.0)
            assert failed.status is ExecutionStatus.FAILED
            assert await c.dead_letters.tick() == 1
        finally:
            await c.close()
    [sink] = sinks
    [envelope] = sink.envelopes
    assert envelope.execution_id == submitted.execution_id
    assert sink.closed
    with pytest.raises(ConfigError, match="unknown provider 'fake'"):
        settings_for(tmp_path, **{"pipeline.orchestrator.dlq-provider": "fake"})


# ------------------------------------------------------------------ close order


class Recorded:
    """A part that notes its opening and its closing in a shared log."""

    def __init__(self, name: str, log: list[str]) -> None:
        self.name, self._log = name, log
        log.append(f"open {name}")

    async def aclose(self) -> None:
        self._log.append(f"close {self.name}")


class RecordedQueue(InProcessWorkQueue):
    def __init__(self, ctx: OpenContext, log: list[str]) -> None:
        super().__init__(ctx.clock)
        self._part = Recorded("queue", log)

    async def close(self) -> None:
        await super().close()
        await self._part.aclose()


RECORDED = {
    "pipeline.orchestrator.state-provider": "recorded",
    "pipeline.orchestrator.dispatcher-provider": "recorded",
    "pipeline.orchestrator.dlq-provider": "recorded",
}


@pytest.fixture
def recorded() -> Iterator[list[str]]:
    """Fake state, queue and DLQ providers, each logging its open and close."""
    log: list[str] = []
    memory_open = STATE.entries["memory"].open
    assert memory_open is not None

    async def open_state(ctx: OpenContext) -> StateStores:
        part = Recorded("state", log)
        ctx.stack.push_async_callback(part.aclose)
        return await memory_open(ctx)

    async def open_queue(ctx: OpenContext) -> RecordedQueue:
        return RecordedQueue(ctx, log)

    async def close_queue(queue: RecordedQueue) -> None:
        await queue.close()

    async def open_sink(ctx: OpenContext) -> Recorded:
        return Recorded("dlq", log)

    async def close_sink(sink: Recorded) -> None:
        await sink.aclose()

    with (
        STATE.registered(Provider("recorded", open_state)),
        WORK_QUEUES.registered(Provider("recorded", open_queue, close=close_queue)),
        DLQ_SINKS.registered(Provider("recorded", open_sink, close=close_sink)),
    ):
        yield log


async def test_close_closes_every_opened_part_in_reverse_order(
    tmp_path: Path, recorded: list[str]
) -> None:
    c = await Coordinator.open(settings_for(tmp_path, **RECORDED), clock=FakeClock())
    assert recorded == ["open state", "open queue", "open dlq"]
    await c.close()
    assert recorded[3:] == ["close dlq", "close queue", "close state"]


async def test_a_failure_while_opening_closes_what_was_opened(
    tmp_path: Path, recorded: list[str]
) -> None:
    async def broken(ctx: OpenContext) -> Recorded:
        raise ConnectionError("sink endpoint down")

    with DLQ_SINKS.registered(Provider("broken", broken)):
        settings = settings_for(
            tmp_path, **{**RECORDED, "pipeline.orchestrator.dlq-provider": "broken"}
        )
        with pytest.raises(ConnectionError, match="sink endpoint down"):
            await Coordinator.open(settings, clock=FakeClock())
    assert recorded == ["open state", "open queue", "close queue", "close state"]
