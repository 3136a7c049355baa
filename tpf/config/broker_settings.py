"""The settings sections of the brokers: await channels (SQS, Kafka) and the Kafka connection.

Split from :mod:`tpf.config.settings` (which re-exports them) because they are one concern:
where await requests go and completions come from, and how to reach Kafka for that, for work
items (``dispatcher-provider=kafka``) and for dead letters (``dlq-provider=kafka``). Key names
(spec §8 where it has them, else ``tpf.await.*`` / ``tpf.kafka.*``) are in
:mod:`tpf.config.broker_keys`.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "KAFKA_KEY_STRATEGIES",
    "KAFKA_SASL_MECHANISMS",
    "KAFKA_SECURITY_PROTOCOLS",
    "AwaitSettings",
    "KafkaSettings",
]

# Listed here, below the Kafka clients, so configuration can check a value when it is read
# (tpf.kafka.connection checks the same tuples when it builds a connection).
KAFKA_SECURITY_PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
# The mechanisms that need nothing beyond a user and a password.
KAFKA_SASL_MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")
KAFKA_KEY_STRATEGIES = ("interactionId", "correlationId")


@dataclass(frozen=True)
class AwaitSettings:
    """Await interactions: the configured channel, its queues/topics, and resume tokens.

    ``transport`` is the channel of every await step that pins none (``rest``: REST only;
    ``sqs``; ``kafka``); ``interaction-api`` and the original's switches
    (``tpf.await.sqs.poller.enabled``, ``tpf.await.kafka.reactive-messaging.enabled``) are
    read into it. The queue and topic names here are what an unpinned step uses on that
    channel (:func:`tpf.config.await_transport.effective_transport`).
    """

    transport: str = "rest"
    # HMAC secret of await resume tokens (spec §4.6); a literal or ``env:NAME``, resolved once
    # when the REST edge starts. Unset: pending interactions carry no token and completing by
    # token is refused.
    resume_token_secret: str | None = None
    # SQS: standard queues. Completions that cannot be applied (poison) are parked in the
    # dead-letter queue with their reason.
    sqs_request_queue_url: str | None = None
    sqs_response_queue_url: str | None = None
    sqs_dead_letter_queue_url: str | None = None
    sqs_poll_start_delay_ms: int = 0
    sqs_visibility_timeout_ms: int = 30_000
    sqs_completion_timeout_ms: int = 300_000  # bound on admitting one completion
    sqs_wait_time_s: int = 1  # long-poll wait (SQS allows 1..20)
    sqs_max_messages: int = 1  # per receive (SQS allows 1..10)
    # Kafka: the original's channel names, which SmallRye also uses as the topic names.
    kafka_request_topic: str = "tpf-await-kafka-requests"
    kafka_response_topic: str = "tpf-await-kafka-responses"
    kafka_request_key: str = "interactionId"  # record key strategy: interactionId|correlationId
    kafka_consumer_group: str = "tpf-await-completions"
    kafka_dead_letter_topic: str | None = "tpf-await-kafka-dead-letters"


@dataclass(frozen=True)
class KafkaSettings:
    """How to reach Kafka, and the topics of the work queue and DLQ sink on it.

    ``sasl_password`` is a literal or an ``env:NAME`` reference, resolved when a connection is
    built (:func:`tpf.kafka.settings.kafka_connection`), like the other secrets.
    """

    bootstrap_servers: str | None = None
    client_id: str = "tpf-coordinator"
    security_protocol: str = "PLAINTEXT"
    sasl_mechanism: str | None = None
    sasl_username: str | None = None
    sasl_password: str | None = None
    ssl_ca_file: str | None = None
    # dispatcher-provider=kafka: work items on this topic, shared by this consumer group.
    work_topic: str | None = None
    work_group: str = "tpf-coordinator-work"
    # Consumer-group session: a member silent this long is dropped and its partitions move to
    # the others (heartbeats go every quarter of it).
    session_timeout_ms: int = 10_000
    # dlq-provider=kafka: dead-letter envelopes, keyed by execution id.
    dlq_topic: str | None = None
    # ``tpf bootstrap kafka``: how topics it creates are laid out.
    partitions: int = 1
    replication_factor: int = 1
