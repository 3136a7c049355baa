"""Switching the await transport by configuration: keys, the original's switches, and the
resolution rule (a pinned transport wins; else the configured one with configured names)."""

from __future__ import annotations

import pytest

from tpf import InteractionApi, Kafka, Sqs
from tpf.config import load_settings
from tpf.config.await_transport import channel_name, effective_transport
from tpf.config.check import check_configuration, effective_configuration
from tpf.config.settings import Settings
from tpf.core.errors import ConfigError

Q = "http://127.0.0.1:4566/000000000000/"


@pytest.mark.parametrize(
    ("env", "transport"),
    [
        ({}, "rest"),
        ({"TPF_AWAIT_TRANSPORT": "interaction-api"}, "rest"),
        ({"TPF_AWAIT_TRANSPORT": "REST"}, "rest"),
        ({"TPF_AWAIT_TRANSPORT": "sqs"}, "sqs"),
        ({"TPF_AWAIT_TRANSPORT": "kafka"}, "kafka"),
        ({"TPF_AWAIT_SQS_POLLER_ENABLED": "true"}, "sqs"),
        ({"TPF_AWAIT_KAFKA_REACTIVE_MESSAGING_ENABLED": "true"}, "kafka"),
        ({"TPF_AWAIT_KAFKA_REACTIVE_MESSAGING_ENABLED": "false"}, "rest"),
        # A switch agreeing with the transport is fine.
        (
            {"TPF_AWAIT_TRANSPORT": "kafka", "TPF_AWAIT_KAFKA_REACTIVE_MESSAGING_ENABLED": "true"},
            "kafka",
        ),
    ],
)
def test_transport_is_chosen_by_configuration(env: dict[str, str], transport: str) -> None:
    assert load_settings(env).awaits.transport == transport


def test_the_originals_switch_from_a_properties_file(tmp_path: object) -> None:
    import pathlib

    path = pathlib.Path(str(tmp_path)) / "app.properties"
    path.write_text("tpf.await.sqs.poller.enabled=true\n")
    report = check_configuration({}, config_file=str(path))
    assert report.errors == () and report.settings.awaits.transport == "sqs"
    assert report.settings.unsupported == {}  # no longer "accepted but has no effect"
    assert "tpf.await.sqs.poller.enabled=true" in report.sources["tpf.await-transport"]


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"TPF_AWAIT_TRANSPORT": "webhook"}, "unknown transport 'webhook'"),
        (
            {"TPF_AWAIT_TRANSPORT": "rest", "TPF_AWAIT_SQS_POLLER_ENABLED": "true"},
            "tpf.await-transport=rest and tpf.await.sqs.poller.enabled=true disagree",
        ),
        (
            {
                "TPF_AWAIT_SQS_POLLER_ENABLED": "true",
                "TPF_AWAIT_KAFKA_REACTIVE_MESSAGING_ENABLED": "true",
            },
            "are both true",
        ),
        (
            {"TPF_AWAIT_SQS_POLLER_ENABLED": "yes"},
            "tpf.await.sqs.poller.enabled: expected true or false",
        ),
        (
            {"TPF_AWAIT_SQS_REQUEST_QUEUE_URL": Q + "a.fifo"},
            "tpf.await.sqs.request-queue-url: .* is a FIFO queue",
        ),
        ({"TPF_AWAIT_SQS_MAX_MESSAGES": "11"}, "tpf.await.sqs.max-messages: must be at most 10"),
        ({"TPF_AWAIT_KAFKA_REQUEST_KEY": "orderId"}, "unknown key strategy 'orderId'"),
        ({"KAFKA_SECURITY_PROTOCOL": "TLS"}, "kafka.security.protocol: unknown security"),
        ({"KAFKA_SASL_PASSWORD": "env:K1_NOT_SET"}, "kafka.sasl.password: .*K1_NOT_SET"),
    ],
)
def test_bad_broker_configuration_names_the_key(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_settings(env)


def test_broker_keys_load_into_their_sections() -> None:
    s = load_settings(
        {
            "TPF_AWAIT_SQS_REQUEST_QUEUE_URL": Q + "req",
            "TPF_AWAIT_SQS_RESPONSE_QUEUE_URL": Q + "res",
            "TPF_AWAIT_SQS_DEAD_LETTER_QUEUE_URL": Q + "dlq",
            "TPF_AWAIT_SQS_VISIBILITY_TIMEOUT": "PT45S",
            "TPF_AWAIT_KAFKA_REQUEST_TOPIC": "approvals.req",
            "TPF_AWAIT_KAFKA_REQUEST_KEY": "correlationid",
            "KAFKA_BOOTSTRAP_SERVERS": "k1:9092,k2:9092",
            "KAFKA_SECURITY_PROTOCOL": "sasl_ssl",
            "KAFKA_SASL_MECHANISM": "scram-sha-512",
            "KAFKA_SASL_USERNAME": "u",
            "KAFKA_SASL_PASSWORD": "env:K1_KAFKA_PASSWORD",
            "K1_KAFKA_PASSWORD": "pw",
            "TPF_KAFKA_WORK_TOPIC": "tpf-work",
            "TPF_KAFKA_PARTITIONS": "6",
        }
    )
    a, k = s.awaits, s.kafka
    assert (a.sqs_request_queue_url, a.sqs_dead_letter_queue_url) == (Q + "req", Q + "dlq")
    assert a.sqs_visibility_timeout_ms == 45_000
    assert (a.kafka_request_topic, a.kafka_request_key) == ("approvals.req", "correlationId")
    assert (k.bootstrap_servers, k.security_protocol, k.sasl_mechanism) == (
        "k1:9092,k2:9092",
        "SASL_SSL",
        "SCRAM-SHA-512",
    )
    assert k.sasl_password == "env:K1_KAFKA_PASSWORD"  # resolved when a connection is built
    assert (k.work_topic, k.work_group, k.partitions) == ("tpf-work", "tpf-coordinator-work", 6)


def test_config_check_lists_the_broker_keys_and_redacts_a_literal_password() -> None:
    report = check_configuration({"KAFKA_SASL_PASSWORD": "hunter2"})
    lines = effective_configuration(report)
    for key in (
        "tpf.await-transport = rest  (default)",
        "tpf.await.sqs.response-queue-url = <unset>",
        "tpf.await.kafka.response-topic = tpf-await-kafka-responses",
        "kafka.bootstrap-servers = <unset>",
        "tpf.kafka.work-topic = <unset>",
        "tpf.kafka.dlq-topic = <unset>",
    ):
        assert any(line.startswith(key) for line in lines), key
    assert "kafka.sasl.password = <redacted>  (set by KAFKA_SASL_PASSWORD)" in lines
    assert not any("hunter2" in line for line in lines)


# --------------------------------------------------------------------------- effective_transport


def test_unpinned_steps_follow_the_configured_transport() -> None:
    assert effective_transport(None, Settings()) == InteractionApi()
    sqs = Settings().replace(
        awaits__transport="sqs",
        awaits__sqs_request_queue_url=Q + "req",
        awaits__sqs_response_queue_url=Q + "res",
    )
    assert effective_transport(None, sqs) == Sqs(Q + "req", Q + "res")
    kafka = Settings().replace(awaits__transport="kafka", awaits__kafka_request_key="correlationId")
    assert effective_transport(None, kafka) == Kafka(
        "tpf-await-kafka-requests",
        "tpf-await-kafka-responses",
        key="correlationId",
        consumer_group="tpf-await-completions",
    )


def test_a_pinned_transport_wins_over_configuration() -> None:
    kafka = Settings().replace(awaits__transport="kafka")
    assert effective_transport(InteractionApi(), kafka) == InteractionApi()
    pinned = Sqs(Q + "a", Q + "b")
    assert effective_transport(pinned, kafka) is pinned
    # A pinned Kafka transport without a group takes the configured one; its own is kept.
    grouped = effective_transport(
        Kafka("r", "s", headers={"h": "v"}), kafka.replace(awaits__kafka_consumer_group="g")
    )
    assert grouped == Kafka("r", "s", consumer_group="g", headers={"h": "v"})
    own = Kafka("r", "s", consumer_group="mine")
    assert effective_transport(own, kafka) is own


def test_sqs_without_queue_urls_names_the_missing_keys() -> None:
    with pytest.raises(ConfigError, match=r"request-queue-url and .*response-queue-url"):
        effective_transport(None, Settings().replace(awaits__transport="sqs"))
    # A step that pins its queues needs none configured.
    assert effective_transport(Sqs(Q + "a", Q + "b"), Settings().replace(awaits__transport="sqs"))


def test_channel_names() -> None:
    assert [
        channel_name(t) for t in (InteractionApi(), Sqs(Q + "a", Q + "b"), Kafka("a", "b"))
    ] == ["rest", "sqs", "kafka"]


def test_kafka_connection_from_settings_resolves_the_password_reference() -> None:
    from tpf.kafka.settings import kafka_connection

    settings = Settings().replace(
        kafka__bootstrap_servers="k1:9092, k2:9092",
        kafka__security_protocol="SASL_PLAINTEXT",
        kafka__sasl_mechanism="PLAIN",
        kafka__sasl_username="svc",
        kafka__sasl_password="env:K1_PW",
    )
    connection = kafka_connection(settings, {"K1_PW": "s3cret"})
    assert connection.servers() == ["k1:9092", "k2:9092"]
    assert connection.client_kwargs()["sasl_plain_password"] == "s3cret"
    with pytest.raises(ConfigError, match="env:K1_PW"):
        kafka_connection(settings, {})
    with pytest.raises(ConfigError, match=r"kafka\.bootstrap-servers is required"):
        kafka_connection(Settings(), {})


def test_the_sqs_await_queues_join_the_aws_checks_only_on_that_channel() -> None:
    from tpf.aws.bootstrap import named_queues
    from tpf.config.providers import aws_services

    configured = Settings().replace(
        awaits__sqs_request_queue_url=Q + "req",
        awaits__sqs_response_queue_url=Q + "res",
        awaits__sqs_dead_letter_queue_url=Q + "dlq",
    )
    assert named_queues(configured) == []  # REST: the queues are not used
    sqs = configured.replace(awaits__transport="sqs")
    assert named_queues(sqs) == [
        ("tpf.await.sqs.request-queue-url", Q + "req"),
        ("tpf.await.sqs.response-queue-url", Q + "res"),
        ("tpf.await.sqs.dead-letter-queue-url", Q + "dlq"),
    ]
    assert "sqs" in aws_services(sqs)  # so the coordinator opens AWS clients to check them
