"""The configuration keys of the brokers: await channels, the Kafka connection and topics.

Merged into the one key table by :mod:`tpf.config.keys` (same shape: property name ->
``(Settings section.field, parser)``). Names follow the spec where it has them (§8:
``tpf.await.sqs.*``; the Kafka connection as ``kafka.*``, whose environment forms
``KAFKA_BOOTSTRAP_SERVERS`` ... are the ones Kafka images already use); the rest are ours
(``tpf.await.kafka.*``, ``tpf.kafka.*``).

``TRANSPORT_SWITCHES`` are the original's on/off keys for its await consumers. They are not
settings of their own: ``=true`` selects that transport in ``tpf.await-transport`` (the loader
reads them so), so one field says which channel runs.
"""

from __future__ import annotations

from tpf.config.broker_settings import (
    KAFKA_KEY_STRATEGIES,
    KAFKA_SASL_MECHANISMS,
    KAFKA_SECURITY_PROTOCOLS,
)
from tpf.config.parsers import Parser, _duration, _int, _provider, _text
from tpf.core.errors import ConfigError

__all__ = ["AWAIT_TRANSPORT_KEY", "BROKER_KEYS", "TRANSPORT_ALIASES", "TRANSPORT_SWITCHES"]

AWAIT_TRANSPORT_KEY = "tpf.await-transport"
# Other names of a channel: "interaction-api" is the spec's name of the REST-only transport.
TRANSPORT_ALIASES = {"interaction-api": "rest"}
# The original's switch key -> the transport ``=true`` selects.
TRANSPORT_SWITCHES = {
    "tpf.await.sqs.poller.enabled": "sqs",
    "tpf.await.kafka.reactive-messaging.enabled": "kafka",
}


def _exact(valid: tuple[str, ...], what: str) -> Parser:
    """One of ``valid``, any case, given back as listed (``scram-sha-256`` -> ``SCRAM-SHA-256``;
    the enum-style ``_choice`` would read its dashes as underscores)."""

    def parse(text: str, key: str) -> str:
        for candidate in valid:
            if candidate.lower() == text.lower():
                return candidate
        raise ConfigError(f"{key}: unknown {what} {text!r}; valid values: {', '.join(valid)}")

    return parse


_channel = _provider("awaits.transport", "transport")


def _await_transport(text: str, key: str) -> str:
    name = TRANSPORT_ALIASES.get(text.strip().lower(), text)
    try:
        return str(_channel(name, key))
    except ConfigError as exc:
        raise ConfigError(f"{exc.message} (or interaction-api, the same as rest)") from exc


def _standard_queue(text: str, key: str) -> str:
    if text.rstrip("/").endswith(".fifo"):
        raise ConfigError(f"{key}: {text!r} is a FIFO queue; await transports need standard queues")
    return text


_A = "tpf.await."

BROKER_KEYS: dict[str, tuple[str, Parser]] = {
    AWAIT_TRANSPORT_KEY: ("awaits.transport", _await_transport),
    _A + "sqs.request-queue-url": ("awaits.sqs_request_queue_url", _standard_queue),
    _A + "sqs.response-queue-url": ("awaits.sqs_response_queue_url", _standard_queue),
    _A + "sqs.dead-letter-queue-url": ("awaits.sqs_dead_letter_queue_url", _text),
    _A + "sqs.poll-start-delay": ("awaits.sqs_poll_start_delay_ms", _duration(0)),
    _A + "sqs.visibility-timeout": ("awaits.sqs_visibility_timeout_ms", _duration(1_000)),
    _A + "sqs.completion-timeout": ("awaits.sqs_completion_timeout_ms", _duration(1)),
    # The original clamps these to SQS's bounds silently; out of bounds is refused here.
    _A + "sqs.wait-time-seconds": ("awaits.sqs_wait_time_s", _int(1, 20)),
    _A + "sqs.max-messages": ("awaits.sqs_max_messages", _int(1, 10)),
    _A + "kafka.request-topic": ("awaits.kafka_request_topic", _text),
    _A + "kafka.response-topic": ("awaits.kafka_response_topic", _text),
    _A + "kafka.request-key": (
        "awaits.kafka_request_key",
        _exact(KAFKA_KEY_STRATEGIES, "key strategy"),
    ),
    _A + "kafka.consumer-group": ("awaits.kafka_consumer_group", _text),
    _A + "kafka.dead-letter-topic": ("awaits.kafka_dead_letter_topic", _text),
    "kafka.bootstrap-servers": ("kafka.bootstrap_servers", _text),
    "kafka.client-id": ("kafka.client_id", _text),
    "kafka.security.protocol": (
        "kafka.security_protocol",
        _exact(KAFKA_SECURITY_PROTOCOLS, "security protocol"),
    ),
    "kafka.sasl.mechanism": ("kafka.sasl_mechanism", _exact(KAFKA_SASL_MECHANISMS, "mechanism")),
    "kafka.sasl.username": ("kafka.sasl_username", _text),
    "kafka.sasl.password": ("kafka.sasl_password", _text),
    "kafka.ssl.ca-file": ("kafka.ssl_ca_file", _text),
    "tpf.kafka.work-topic": ("kafka.work_topic", _text),
    "tpf.kafka.work-group": ("kafka.work_group", _text),
    "tpf.kafka.session-timeout": ("kafka.session_timeout_ms", _duration(1_000)),
    "tpf.kafka.dlq-topic": ("kafka.dlq_topic", _text),
    "tpf.kafka.partitions": ("kafka.partitions", _int(1)),
    "tpf.kafka.replication-factor": ("kafka.replication_factor", _int(1)),
}
