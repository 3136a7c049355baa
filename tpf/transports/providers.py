"""The transport provider tables: work queue, DLQ sink, await channel, worker protocol.

Implementations are imported when chosen: the embedded default never loads aiobotocore.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass

from tpf.config.providers import OpenContext, Provider, ProviderTable
from tpf.core.records import WorkerRecord
from tpf.transports.base import AwaitChannel, DeadLetterSink, TransitionWorker, WorkQueue
from tpf.transports.workers.directory import ClientFactory, Identity

_P = "pipeline.orchestrator."


async def _inproc_queue(ctx: OpenContext) -> WorkQueue:
    from tpf.transports.work.inproc import InProcessWorkQueue

    return InProcessWorkQueue(ctx.clock)


async def _sqs_queue(ctx: OpenContext) -> WorkQueue:
    from tpf.transports.work.sqs import SqsWorkQueue

    return SqsWorkQueue(ctx.require_aws(), ctx.settings, ctx.clock)


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
    ],
)


async def _log_sink(ctx: OpenContext) -> DeadLetterSink:
    from tpf.transports.dlq.log import LogDeadLetterSink

    return LogDeadLetterSink()


async def _sqs_sink(ctx: OpenContext) -> DeadLetterSink:
    from tpf.transports.dlq.sqs import SqsDeadLetterSink

    return SqsDeadLetterSink(ctx.require_aws(), ctx.settings)


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
        Provider("kafka", None),
    ],
)


async def _rest_channel(ctx: OpenContext) -> AwaitChannel:
    from tpf.transports.awaits.rest import RestAwaitChannel

    return RestAwaitChannel()


async def _close_channel(channel: AwaitChannel) -> None:
    await channel.aclose()


AWAIT_CHANNELS: ProviderTable[AwaitChannel] = ProviderTable(
    "await channel",
    "tpf.await-transport",
    "awaits.transport",
    [
        Provider("rest", _rest_channel, close=_close_channel),
        Provider("sqs", None),
        Provider("kafka", None),
    ],
    hint="; completions arrive through Coordinator.complete",
)


# Builds the client of one worker protocol for an identity, from a registered worker's record.
ClientBuilder = Callable[[OpenContext, Identity, WorkerRecord], Awaitable[TransitionWorker]]


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

            async def make(identity: Identity, record: WorkerRecord) -> TransitionWorker:
                return await build(ctx, identity, record)

            return make

        return factory_for


WORKER_PROTOCOLS = WorkerProtocols([WorkerProtocol("local", None)])
