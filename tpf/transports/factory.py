"""Choose the work queue and DLQ sink a configuration names.

A provider name that the configuration accepts but this build cannot run yet fails startup
here, naming the key, instead of silently running on the in-process default.
"""

from __future__ import annotations

from tpf.aws import AwsClients
from tpf.clock import Clock
from tpf.errors import ConfigError
from tpf.settings import Settings
from tpf.transports.base import DeadLetterSink, WorkQueue
from tpf.transports.dlq.log import LogDeadLetterSink
from tpf.transports.work.inproc import InProcessWorkQueue


def _not_built(key: str, value: str, supported: str) -> ConfigError:
    return ConfigError(
        f"pipeline.orchestrator.{key}={value} is not available in this build yet "
        f"(supported: {supported})"
    )


def _required(key: str, provider: str) -> ConfigError:
    return ConfigError(f"pipeline.orchestrator.{key} is required when {provider}")


def open_work_queue(settings: Settings, clock: Clock, aws: AwsClients | None = None) -> WorkQueue:
    if settings.dispatcher_provider == "event":
        return InProcessWorkQueue(clock)
    if settings.dispatcher_provider == "sqs":
        if not settings.queue_url:
            raise _required("queue-url", "dispatcher-provider=sqs")
        if aws is None:
            raise ConfigError("dispatcher-provider=sqs needs AWS clients (none were given)")
        # Imported on demand: the embedded default never loads aiobotocore.
        from tpf.transports.work.sqs import SqsWorkQueue

        return SqsWorkQueue(aws, settings, clock)
    raise _not_built("dispatcher-provider", settings.dispatcher_provider, "event, sqs")


def open_dead_letter_sink(settings: Settings, aws: AwsClients | None = None) -> DeadLetterSink:
    if settings.dlq_provider == "log":
        return LogDeadLetterSink()
    if settings.dlq_provider == "sqs":
        if not settings.dlq_url:
            raise _required("dlq-url", "dlq-provider=sqs")
        if aws is None:
            raise ConfigError("dlq-provider=sqs needs AWS clients (none were given)")
        from tpf.transports.dlq.sqs import SqsDeadLetterSink

        return SqsDeadLetterSink(aws, settings)
    raise _not_built("dlq-provider", settings.dlq_provider, "log, sqs")


def check_await_transport(settings: Settings) -> None:
    if settings.await_transport != "rest":
        raise ConfigError(
            f"tpf.await-transport={settings.await_transport} is not available in this build yet "
            "(supported: rest; completions arrive through Coordinator.complete)"
        )
