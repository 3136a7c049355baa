"""The transport provider tables: work queue, DLQ sink, await channel, worker protocol.

Implementations are imported when chosen: the embedded default never loads aiobotocore.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from tpf.authoring.await_transports import AwaitTransport, Kafka, Sqs
from tpf.config.await_transport import effective_transport
from tpf.config.providers import OpenContext, Provider, ProviderTable
from tpf.config.settings import Settings
from tpf.core.errors import ConfigError
from tpf.core.records import PipelineContract, WorkerRecord
from tpf.stores.base import ReleaseStore, WorkerStore
from tpf.transports.awaits.relay import CompletionRelay
from tpf.transports.base import AwaitChannel, DeadLetterSink, TransitionWorker, WorkQueue
from tpf.transports.workers.directory import (
    ClientFactory,
    Identity,
    TargetLookup,
    WorkerDirectory,
)

if TYPE_CHECKING:
    from tpf.aws.clients import AwsClients

_P = "pipeline.orchestrator."


async def _inproc_queue(ctx: OpenContext) -> WorkQueue:
    from tpf.transports.work.inproc import InProcessWorkQueue

    return InProcessWorkQueue(ctx.clock)


async def _sqs_queue(ctx: OpenContext) -> WorkQueue:
    from tpf.transports.work.sqs import SqsWorkQueue

    return SqsWorkQueue(ctx.require_aws(), ctx.settings, ctx.clock)


async def _kafka_queue(ctx: OpenContext) -> WorkQueue:
    from tpf.kafka.settings import kafka_connection
    from tpf.transports.work.kafka import KafkaWorkQueue

    section = ctx.settings.kafka
    assert section.work_topic  # ``requires`` checked it
    return KafkaWorkQueue(
        kafka_connection(ctx.settings),
        ctx.clock,
        topic=section.work_topic,
        group_id=section.work_group,
        session_timeout_ms=section.session_timeout_ms,
        heartbeat_interval_ms=max(100, section.session_timeout_ms // 4),
    )


def _work_topics(settings: Settings) -> dict[str, str]:
    topic = settings.kafka.work_topic
    return {"tpf.kafka.work-topic": topic} if topic else {}


_KAFKA = ("kafka.bootstrap_servers", "kafka.bootstrap-servers")


async def _close_queue(queue: WorkQueue) -> None:
    await queue.close()


WORK_QUEUES: ProviderTable[WorkQueue] = ProviderTable(
    "work queue",
    _P + "dispatcher-provider",
    "work_queue.provider",
    [
        Provider("event", _inproc_queue, close=_close_queue),
        Provider(
            "sqs",
            _sqs_queue,
            requires=(("sqs.queue_url", "queue-url"),),
            aws=("sqs",),
            close=_close_queue,
        ),
        Provider(
            "kafka",
            _kafka_queue,
            requires=(_KAFKA, ("kafka.work_topic", "tpf.kafka.work-topic")),
            close=_close_queue,
            kafka_topics=_work_topics,
        ),
    ],
)


async def _log_sink(ctx: OpenContext) -> DeadLetterSink:
    from tpf.transports.dlq.log import LogDeadLetterSink

    return LogDeadLetterSink()


async def _sqs_sink(ctx: OpenContext) -> DeadLetterSink:
    from tpf.transports.dlq.sqs import SqsDeadLetterSink

    return SqsDeadLetterSink(ctx.require_aws(), ctx.settings)


async def _kafka_sink(ctx: OpenContext) -> DeadLetterSink:
    from tpf.kafka.settings import kafka_connection
    from tpf.transports.dlq.kafka import KafkaDeadLetterSink

    assert ctx.settings.kafka.dlq_topic  # ``requires`` checked it
    return KafkaDeadLetterSink(kafka_connection(ctx.settings), ctx.settings.kafka.dlq_topic)


def _dlq_topics(settings: Settings) -> dict[str, str]:
    topic = settings.kafka.dlq_topic
    return {"tpf.kafka.dlq-topic": topic} if topic else {}


def _await_topics(settings: Settings) -> dict[str, str]:
    """The configured Kafka await channel's topics (steps that pin topics bring their own)."""
    awaits = settings.awaits
    topics = {
        "tpf.await.kafka.request-topic": awaits.kafka_request_topic,
        "tpf.await.kafka.response-topic": awaits.kafka_response_topic,
    }
    if awaits.kafka_dead_letter_topic:
        topics["tpf.await.kafka.dead-letter-topic"] = awaits.kafka_dead_letter_topic
    return topics


async def _close_sink(sink: DeadLetterSink) -> None:
    await sink.aclose()


DLQ_SINKS: ProviderTable[DeadLetterSink] = ProviderTable(
    "DLQ sink",
    _P + "dlq-provider",
    "dlq.provider",
    [
        Provider("log", _log_sink, close=_close_sink),
        Provider(
            "sqs",
            _sqs_sink,
            requires=(("sqs.dlq_url", "dlq-url"),),
            aws=("sqs",),
            close=_close_sink,
        ),
        Provider(
            "kafka",
            _kafka_sink,
            requires=(_KAFKA, ("kafka.dlq_topic", "tpf.kafka.dlq-topic")),
            close=_close_sink,
            kafka_topics=_dlq_topics,
        ),
    ],
)


async def _rest_channel(ctx: OpenContext) -> AwaitChannel:
    from tpf.transports.awaits.rest import RestAwaitChannel

    return RestAwaitChannel()


def _relay(ctx: OpenContext) -> CompletionRelay:
    if ctx.completions is None:
        ctx.completions = CompletionRelay()
    relay: CompletionRelay = ctx.completions
    return relay


async def _sqs_channel(ctx: OpenContext) -> AwaitChannel:
    spec = effective_transport(None, ctx.settings)  # names the missing queue key, if any
    assert isinstance(spec, Sqs)
    return _sqs_channel_for(ctx, spec, ctx.require_aws())


def _sqs_channel_for(ctx: OpenContext, spec: Sqs, aws: AwsClients) -> AwaitChannel:
    from tpf.transports.awaits.sqs import SqsAwaitChannel, SqsChannelConfig

    awaits = ctx.settings.awaits
    config = SqsChannelConfig(
        request_queue_url=spec.request_queue_url,
        response_queue_url=spec.response_queue_url,
        dead_letter_queue_url=awaits.sqs_dead_letter_queue_url,
        wait_time_s=max(1, min(20, awaits.sqs_wait_time_s)),
        max_messages=max(1, min(10, awaits.sqs_max_messages)),
        visibility_timeout_s=max(1, awaits.sqs_visibility_timeout_ms // 1000),
        receivers=ctx.settings.sqs.receivers,
    )
    return SqsAwaitChannel(aws, config, _relay(ctx), ctx.clock, metrics=ctx.await_metrics)


async def _kafka_channel(ctx: OpenContext) -> AwaitChannel:
    spec = effective_transport(None, ctx.settings)
    assert isinstance(spec, Kafka)
    return _kafka_channel_for(ctx, spec)


def _kafka_channel_for(ctx: OpenContext, spec: Kafka) -> AwaitChannel:
    from tpf.kafka.settings import kafka_connection
    from tpf.transports.awaits.kafka import KafkaAwaitChannel, KafkaChannelConfig

    if not ctx.settings.kafka.bootstrap_servers:
        raise ConfigError(
            "a Kafka await transport needs kafka.bootstrap-servers (TPF_KAFKA_BOOTSTRAP_SERVERS)"
        )
    config = KafkaChannelConfig(
        connection=kafka_connection(ctx.settings),
        request_topic=spec.request_topic,
        response_topic=spec.response_topic,
        key_strategy=spec.key,
        consumer_group=spec.consumer_group or ctx.settings.awaits.kafka_consumer_group,
        dead_letter_topic=ctx.settings.awaits.kafka_dead_letter_topic,
        headers=spec.header_map(),
    )
    return KafkaAwaitChannel(config, _relay(ctx), ctx.clock, metrics=ctx.await_metrics)


async def _close_channel(channel: AwaitChannel) -> None:
    await channel.aclose()


def pinned_channels(ctx: OpenContext) -> Callable[[AwaitTransport], AwaitChannel]:
    """The await lane's builder of a channel for a transport an await step pins (beside the
    configured one): SQS or Kafka from the step's own names and this deployment's broker
    settings; each channel is closed with the coordinator (before the AWS clients it uses)."""

    def build(spec: AwaitTransport) -> AwaitChannel:
        if isinstance(spec, Sqs):
            if ctx.aws is None:  # the configured providers needed no AWS: clients on demand
                from tpf.aws.clients import AwsClients as Clients

                ctx.aws = Clients(ctx.settings)
                ctx.stack.push_async_callback(ctx.aws.close)
            channel = _sqs_channel_for(ctx, spec, ctx.aws)
        elif isinstance(spec, Kafka):
            channel = _kafka_channel_for(ctx, spec)
        else:
            raise ConfigError(f"no await channel publishes {spec!r}")
        ctx.stack.push_async_callback(_close_channel, channel)
        return channel

    return build


AWAIT_CHANNELS: ProviderTable[AwaitChannel] = ProviderTable(
    "await channel",
    "tpf.await-transport",
    "awaits.transport",
    [
        Provider("rest", _rest_channel, close=_close_channel),
        Provider(
            "sqs",
            _sqs_channel,
            aws=("sqs",),
            requires=(
                ("awaits.sqs_request_queue_url", "tpf.await.sqs.request-queue-url"),
                ("awaits.sqs_response_queue_url", "tpf.await.sqs.response-queue-url"),
            ),
            close=_close_channel,
        ),
        Provider(
            "kafka",
            _kafka_channel,
            requires=(_KAFKA,),
            kafka_topics=_await_topics,
            close=_close_channel,
        ),
    ],
    hint="; completions arrive through Coordinator.complete",
)


# Builds the client of one worker protocol for an identity, from a registered worker's record
# and the release's contract; ``None`` when the record gives no way to reach the worker.
ClientBuilder = Callable[
    [OpenContext, Identity, WorkerRecord, PipelineContract | None],
    Awaitable[TransitionWorker | None],
]


@dataclass(frozen=True)
class WorkerProtocol:
    """A transition-worker protocol. ``client`` is ``None`` for ``local``: its workers are
    hosted in this process (``Coordinator.host``), never built from a record."""

    name: str
    client: ClientBuilder | None


class WorkerProtocols:
    """The worker-protocol table: which protocols a registered worker record may name and get
    a client for (resolved by the worker directory when an identity has no local worker)."""

    def __init__(self, entries: list[WorkerProtocol]) -> None:
        self.entries = {e.name: e for e in entries}

    def register(self, entry: WorkerProtocol) -> None:
        self.entries[entry.name] = entry

    @contextlib.contextmanager
    def registered(self, entry: WorkerProtocol) -> Iterator[WorkerProtocol]:
        previous = self.entries.get(entry.name)
        self.register(entry)
        try:
            yield entry
        finally:
            if previous is None:
                self.entries.pop(entry.name, None)
            else:
                self.register(previous)

    def lookup(self, ctx: OpenContext) -> Callable[[str], ClientFactory | None]:
        """The directory's view: a protocol name to a client factory bound to ``ctx``."""

        def factory_for(protocol: str) -> ClientFactory | None:
            entry = self.entries.get(protocol)
            if entry is None or entry.client is None:
                return None
            build = entry.client

            async def make(
                identity: Identity, record: WorkerRecord, contract: PipelineContract | None
            ) -> TransitionWorker | None:
                return await build(ctx, identity, record, contract)

            return make

        return factory_for


async def _remote_client(
    ctx: OpenContext, identity: Identity, record: WorkerRecord, contract: PipelineContract | None
) -> TransitionWorker | None:
    from tpf.transports.workers.remote.transports import record_client

    return await record_client(ctx, identity, record, contract)


def worker_target(ctx: OpenContext) -> TargetLookup | None:
    """The directory's fallback: the configured remote worker target (``worker.rest.base-url``,
    ``worker.grpc.endpoint`` or ``worker.sqs.request-queue-url``) for the identity it serves;
    ``None`` when none is configured."""
    from tpf.config.worker_targets import worker_target as configured

    if configured(ctx.settings) is None:
        return None

    async def lookup(
        identity: Identity, contract: PipelineContract | None
    ) -> TransitionWorker | None:
        from tpf.transports.workers.remote.transports import target_client

        return await target_client(ctx, identity, contract)

    return lookup


WORKER_PROTOCOLS = WorkerProtocols(
    [
        WorkerProtocol("local", None),
        WorkerProtocol("rest", _remote_client),
        WorkerProtocol("grpc", _remote_client),
        WorkerProtocol("sqs", _remote_client),
    ]
)


def worker_directory(
    records: WorkerStore, releases: ReleaseStore, ctx: OpenContext
) -> WorkerDirectory:
    """The coordinator's worker directory: clients from worker records by the protocol table,
    the release contracts from ``releases``, and the configured target as the fallback."""
    return WorkerDirectory(
        records,
        WORKER_PROTOCOLS.lookup(ctx),
        releases=releases,
        target=worker_target(ctx),
        clock=ctx.clock,
        stale_after_ms=ctx.settings.workers.stale_after_ms,
    )
