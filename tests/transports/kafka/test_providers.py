"""The Kafka providers through ``Coordinator.open``, against Tansu: ``dispatcher-provider=kafka``
runs executions, ``dlq-provider=kafka`` publishes dead letters keyed by execution, strict startup
names missing topics, and ``tpf bootstrap kafka`` creates what the configuration uses."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer

from tests.engine.pipelines import FLAKY_ID, flaky_pipeline
from tests.kafka_broker import KafkaBroker, unique
from tests.transports.kafka.helpers import WAIT_S, create_topic
from tpf.authoring.build import build_release
from tpf.cli.main import main
from tpf.config import load_settings
from tpf.config.settings import Settings
from tpf.coordinator import Coordinator
from tpf.core.clock import FakeClock
from tpf.core.errors import ConfigError
from tpf.core.records import ExecutionStatus
from tpf.kafka.admin import topic_partitions
from tpf.kafka.connection import KafkaConnection
from tpf.transports.dlq.kafka import KafkaDeadLetterSink
from tpf.transports.work.kafka import KafkaWorkQueue

TENANT = "t1"
DONE = (ExecutionStatus.SUCCEEDED, ExecutionStatus.FAILED)
P = "pipeline.orchestrator."


def settings_for(tmp: Path, broker: KafkaBroker, **properties: str) -> Settings:
    return load_settings(
        {},
        overrides={
            "tpf.state-dir": str(tmp / "state"),
            P + "state-provider": "memory",
            P + "releases.registry.provider": "memory",
            P + "worker.lifecycle.provider": "memory",
            "kafka.bootstrap-servers": broker.bootstrap_servers,
            "kafka.client-id": "tpf-test",
            "tpf.kafka.session-timeout": "PT1S",  # Tansu joins a group in about half of it
            **properties,
        },
    )


async def run_flaky(c: Coordinator, tmp: Path, failures: int, *, non_retryable: bool = True) -> str:
    pipeline, _ = flaky_pipeline(failures, non_retryable=non_retryable)
    worker = c.host(pipeline)
    record = await c.register_release(TENANT, FLAKY_ID, str(build_release(pipeline, tmp / "rel")))
    await c.activate_release(TENANT, FLAKY_ID, record.release_version)
    await c.register_local_worker(TENANT, worker, "local-1")
    submitted = await c.submit(TENANT, FLAKY_ID, {"value": "a"})
    return submitted.execution_id


async def test_dispatcher_provider_kafka_runs_an_execution_to_success(
    tmp_path: Path, kafka_broker: KafkaBroker, kafka: KafkaConnection
) -> None:
    topic = unique("work")
    await create_topic(kafka, topic, partitions=2)
    settings = settings_for(
        tmp_path,
        kafka_broker,
        # A retry due at once is a work item on the topic (the first attempt runs straight
        # from submit), so the execution can only succeed through the topic and the group.
        **{
            P + "dispatcher-provider": "kafka",
            "tpf.kafka.work-topic": topic,
            "tpf.kafka.work-group": unique("group"),
            P + "retry-delay": "PT0S",
        },
    )
    c = await Coordinator.open(settings, clock=FakeClock())
    try:
        queue = c.engine.queue
        assert isinstance(queue, KafkaWorkQueue) and queue.topic == topic
        await c.start()  # the work consumer loop, as `tpf serve` runs it
        execution_id = await run_flaky(c, tmp_path, failures=1, non_retryable=False)
        final = await c.wait_for(TENANT, execution_id, DONE, timeout_s=WAIT_S)
        delivered = queue.delivered
    finally:
        await c.close()
    assert final.status is ExecutionStatus.SUCCEEDED and final.attempt == 1
    assert final.result_payload == {"value": "a!"}
    assert delivered == 1  # the retry's work item came back from the topic


async def test_dlq_provider_kafka_publishes_the_envelope_keyed_by_execution(
    tmp_path: Path, kafka_broker: KafkaBroker, kafka: KafkaConnection
) -> None:
    topic = unique("dlq")
    await create_topic(kafka, topic, partitions=3)
    settings = settings_for(
        tmp_path, kafka_broker, **{P + "dlq-provider": "kafka", "tpf.kafka.dlq-topic": topic}
    )
    c = await Coordinator.open(settings, clock=FakeClock())
    try:
        assert isinstance(c.dlq_sink, KafkaDeadLetterSink)
        execution_id = await run_flaky(c, tmp_path, failures=1)  # fails non-retryably
        failed = await c.wait_for(TENANT, execution_id, DONE, timeout_s=WAIT_S)
        assert failed.status is ExecutionStatus.FAILED
        assert await c.dead_letters.tick() == 1
    finally:
        await c.close()
    consumer = AIOKafkaConsumer(topic, **kafka.client_kwargs(), auto_offset_reset="earliest")
    await consumer.start()
    try:
        records = []
        async with asyncio.timeout(WAIT_S):
            while not records:
                batches = await consumer.getmany(timeout_ms=1_000)
                records += [r for rs in batches.values() for r in rs]
    finally:
        await consumer.stop()
    [record] = records
    assert record.key == execution_id.encode()
    body = json.loads(record.value)
    assert (body["tenantId"], body["executionId"]) == (TENANT, execution_id)
    assert body["terminalStatus"] == "FAILED" and "rejected a" in body["errorMessage"]


async def test_strict_startup_names_every_missing_topic(
    tmp_path: Path, kafka_broker: KafkaBroker
) -> None:
    work, dlq = unique("absent-work"), unique("absent-dlq")
    settings = settings_for(
        tmp_path,
        kafka_broker,
        **{
            P + "dispatcher-provider": "kafka",
            "tpf.kafka.work-topic": work,
            P + "dlq-provider": "kafka",
            "tpf.kafka.dlq-topic": dlq,
        },
    )
    with pytest.raises(ConfigError) as caught:
        await Coordinator.open(settings, clock=FakeClock())
    message = caught.value.message
    assert f"topic {work} (tpf.kafka.work-topic)" in message
    assert f"topic {dlq} (tpf.kafka.dlq-topic)" in message
    assert "tpf bootstrap kafka" in message
    # Not strict: it opens (and the topics are still absent: nothing created them).
    lenient = settings.replace(startup__strict=False, work_queue__provider="event")
    c = await Coordinator.open(lenient, clock=FakeClock())
    await c.close()


def test_kafka_providers_name_the_setting_they_miss(tmp_path: Path) -> None:
    async def open_(**properties: str) -> None:
        settings = load_settings({}, overrides={"tpf.state-dir": str(tmp_path), **properties})
        await Coordinator.open(settings, clock=FakeClock())

    with pytest.raises(
        ConfigError, match=r"kafka\.bootstrap-servers is required when dispatcher-provider=kafka"
    ):
        asyncio.run(open_(**{P + "dispatcher-provider": "kafka"}))
    with pytest.raises(ConfigError, match=r"tpf\.kafka\.dlq-topic is required when dlq-provider"):
        asyncio.run(open_(**{P + "dlq-provider": "kafka", "kafka.bootstrap-servers": "h:1"}))


async def test_tpf_bootstrap_kafka_creates_the_configured_topics(
    tmp_path: Path,
    kafka_broker: KafkaBroker,
    kafka: KafkaConnection,
    capsys: pytest.CaptureFixture[str],
) -> None:
    work, dlq, extra = unique("boot-work"), unique("boot-dlq"), unique("boot-pinned")
    config = tmp_path / "kafka.properties"
    config.write_text(
        f"{P}dispatcher-provider=kafka\ntpf.kafka.work-topic={work}\n"
        f"{P}dlq-provider=kafka\ntpf.kafka.dlq-topic={dlq}\ntpf.kafka.partitions=2\n"
    )
    argv = [
        "bootstrap",
        "kafka",
        "--config",
        str(config),
        "--bootstrap-servers",
        kafka_broker.bootstrap_servers,
        "--topic",
        extra,
    ]
    # The CLI runs its own event loop: off this test's loop, in a thread.
    assert await asyncio.to_thread(main, [*argv, "--partitions", "3"]) == 0
    out = capsys.readouterr().out
    for topic in (work, dlq, extra):
        assert f"created topic {topic} (3 partitions)" in out
    partitions = await topic_partitions(kafka)
    assert [partitions[t] for t in (work, dlq, extra)] == [3, 3, 3]
    assert await asyncio.to_thread(main, argv) == 0  # idempotent
    assert capsys.readouterr().out.strip() == "nothing to create"
