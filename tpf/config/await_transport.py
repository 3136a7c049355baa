"""Which transport an await step uses: its pinned one, else the deployment's configured one.

:func:`effective_transport` is the one rule, for the dispatch publisher, the completion
consumers and the engine: a step's pinned transport wins (a Kafka one without a consumer group
gets the configured group); an unpinned step takes ``tpf.await-transport`` with the queue and
topic names from configuration. The result is always a complete spec. REST completion works
whatever it says: the SQS and Kafka channels add a way in, they do not close the REST one.
"""

from __future__ import annotations

from collections.abc import Iterable

from tpf.authoring.await_transports import AwaitTransport, InteractionApi, Kafka, Sqs
from tpf.config.settings import Settings
from tpf.core.errors import ConfigError

__all__ = ["channel_key", "channel_name", "effective_transport", "kafka_channel_key"]

_SQS_KEYS = (
    ("sqs_request_queue_url", "tpf.await.sqs.request-queue-url"),
    ("sqs_response_queue_url", "tpf.await.sqs.response-queue-url"),
)


def effective_transport(
    step_transport: AwaitTransport | None, settings: Settings
) -> AwaitTransport:
    """The complete transport spec an await step with ``step_transport`` uses under
    ``settings``; :class:`ConfigError` naming the key when configuration lacks a name."""
    awaits = settings.awaits
    if isinstance(step_transport, Kafka) and step_transport.consumer_group is None:
        return _kafka(step_transport, awaits.kafka_consumer_group)
    if step_transport is not None:
        return step_transport
    if awaits.transport == "rest":
        return InteractionApi()
    if awaits.transport == "sqs":
        missing = [key for name, key in _SQS_KEYS if not getattr(awaits, name)]
        if missing:
            raise ConfigError(
                f"tpf.await-transport=sqs needs {' and '.join(missing)} for the await steps "
                "that pin no transport"
            )
        assert awaits.sqs_request_queue_url and awaits.sqs_response_queue_url
        return Sqs(awaits.sqs_request_queue_url, awaits.sqs_response_queue_url)
    if awaits.transport == "kafka":
        return Kafka(
            awaits.kafka_request_topic,
            awaits.kafka_response_topic,
            key=awaits.kafka_request_key,
            consumer_group=awaits.kafka_consumer_group,
        )
    raise ConfigError(
        f"tpf.await-transport={awaits.transport} has no queue or topic settings; an await "
        "step on it must pin its transport"
    )


def channel_key(spec: AwaitTransport) -> str:
    """A stable name of the channel a complete spec needs: equal specs share one channel (and
    its consumers); the key is stored on interactions, so it must not change across releases."""
    if isinstance(spec, Sqs):
        return f"sqs:{spec.request_queue_url}>{spec.response_queue_url}"
    if isinstance(spec, Kafka):
        return kafka_channel_key(
            spec.request_topic, spec.response_topic, spec.key, spec.consumer_group, spec.headers
        )
    return "interaction-api"


def kafka_channel_key(
    request_topic: str,
    response_topic: str,
    key: str,
    consumer_group: str | None,
    headers: Iterable[tuple[str, str]],
) -> str:
    """:func:`channel_key` of a Kafka channel, from its configuration's fields."""
    pairs = ",".join(f"{k}={v}" for k, v in sorted(headers))
    return (
        f"kafka:{request_topic}>{response_topic}"
        f";key={key};group={consumer_group or ''};headers={pairs}"
    )


def channel_name(spec: AwaitTransport) -> str:
    """The await channel table's name for ``spec`` (``interaction-api`` is ``rest``)."""
    return "rest" if isinstance(spec, InteractionApi) else spec.type


def _kafka(spec: Kafka, group: str) -> Kafka:
    return Kafka(
        spec.request_topic,
        spec.response_topic,
        key=spec.key,
        consumer_group=group,
        headers=spec.header_map(),
    )
