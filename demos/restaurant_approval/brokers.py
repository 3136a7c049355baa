"""The brokers of the broker demos and bench: a local one started for the run, or a real one.

:func:`broker_lane` yields a :class:`Lane`: where the await requests and completions travel
(queue URLs or topics), the coordinator's environment for it (:data:`COORDINATOR_ENV`, the one
place that names the variables) and the responder's command-line flags.

- ``sqs``: moto's server on a free 127.0.0.1 port with the request, response and dead-letter
  queues created; or, when ``TPF_AWAIT_SQS_REQUEST_QUEUE_URL`` is set, the queues it and
  ``TPF_AWAIT_SQS_RESPONSE_QUEUE_URL`` / ``TPF_AWAIT_SQS_DEAD_LETTER_QUEUE_URL`` name (they
  must exist; ``PIPELINE_ORCHESTRATOR_SQS_ENDPOINT_OVERRIDE`` / ``_REGION`` and the usual AWS
  credentials reach them).
- ``kafka``: Tansu on a free 127.0.0.1 port; or, when ``KAFKA_BOOTSTRAP_SERVERS`` is set, that
  cluster (``KAFKA_SECURITY_PROTOCOL`` / ``KAFKA_SASL_*`` as the coordinator reads them). The
  topics (``TPF_AWAIT_KAFKA_*_TOPIC``, default the original's names) are created when missing,
  as ``tpf bootstrap kafka`` would.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass, field

# The coordinator's environment per lane; ``{name}`` is filled from the lane's values. The
# variables are the environment forms of tpf.config.broker_keys' keys (TPF_AWAIT_TRANSPORT is
# the short form of tpf.await-transport; KAFKA_BOOTSTRAP_SERVERS of kafka.bootstrap-servers).
COORDINATOR_ENV: dict[str, dict[str, str]] = {
    "sqs": {
        "TPF_AWAIT_TRANSPORT": "sqs",
        "TPF_AWAIT_SQS_REQUEST_QUEUE_URL": "{request_queue_url}",
        "TPF_AWAIT_SQS_RESPONSE_QUEUE_URL": "{response_queue_url}",
        "TPF_AWAIT_SQS_DEAD_LETTER_QUEUE_URL": "{dead_letter_queue_url}",
        "PIPELINE_ORCHESTRATOR_SQS_ENDPOINT_OVERRIDE": "{endpoint_url}",
        "PIPELINE_ORCHESTRATOR_SQS_REGION": "{region}",
        "PIPELINE_ORCHESTRATOR_RESUME_TOKEN_SECRET": "{resume_token_secret}",
        # Up to 10 completions per receive (the original's default is 1): a lane with many
        # answers in flight otherwise pays a receive and a delete round trip for each one.
        "TPF_AWAIT_SQS_MAX_MESSAGES": "10",
    },
    "kafka": {
        "TPF_AWAIT_TRANSPORT": "kafka",
        "KAFKA_BOOTSTRAP_SERVERS": "{bootstrap_servers}",
        "TPF_AWAIT_KAFKA_REQUEST_TOPIC": "{request_topic}",
        "TPF_AWAIT_KAFKA_RESPONSE_TOPIC": "{response_topic}",
        "TPF_AWAIT_KAFKA_DEAD_LETTER_TOPIC": "{dead_letter_topic}",
        "TPF_AWAIT_KAFKA_CONSUMER_GROUP": "{consumer_group}",
        "PIPELINE_ORCHESTRATOR_RESUME_TOKEN_SECRET": "{resume_token_secret}",
    },
}
LANES = tuple(COORDINATOR_ENV)
REGION = "us-east-1"
# Local endpoints accept any credentials, but botocore refuses to sign without some.
FAKE_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
QUEUES = ("restaurant-await-requests", "restaurant-await-responses", "restaurant-await-dlq")
TOPICS = ("tpf-await-kafka-requests", "tpf-await-kafka-responses", "tpf-await-kafka-dead-letters")
DEMO_SECRET = "restaurant-demo-resume-token-secret"


@dataclass(frozen=True)
class Lane:
    name: str
    local: bool  # started for this run (else: the operator's broker)
    values: dict[str, str]
    # Extra environment of every process of the run (the fake credentials of a local moto).
    extra_env: dict[str, str] = field(default_factory=dict)

    def coordinator_env(self) -> dict[str, str]:
        """The coordinator's variables for this lane (unset values left out)."""
        env = {
            name: template.format(**self.values)
            for name, template in COORDINATOR_ENV[self.name].items()
        }
        return {**self.extra_env, **{name: value for name, value in env.items() if value}}

    def responder_args(self) -> list[str]:
        v = self.values
        if self.name == "sqs":
            args = ["sqs", "--request-queue-url", v["request_queue_url"]]
            args += ["--response-queue-url", v["response_queue_url"], "--region", v["region"]]
            return args + (["--endpoint-url", v["endpoint_url"]] if v["endpoint_url"] else [])
        return [
            "kafka",
            "--bootstrap-servers",
            v["bootstrap_servers"],
            "--request-topic",
            v["request_topic"],
            "--response-topic",
            v["response_topic"],
        ]

    @property
    def request_channel(self) -> str:
        return self.values["request_queue_url" if self.name == "sqs" else "request_topic"]

    @property
    def response_channel(self) -> str:
        return self.values["response_queue_url" if self.name == "sqs" else "response_topic"]


@contextlib.contextmanager
def broker_lane(name: str) -> Iterator[Lane]:
    """The lane ``name`` (``sqs`` or ``kafka``), its local broker stopped on exit."""
    if name not in LANES:
        raise SystemExit(f"unknown broker lane {name!r}; choose one of {', '.join(LANES)}")
    with _sqs_lane() if name == "sqs" else _kafka_lane() as lane:
        yield lane


@contextlib.contextmanager
def _sqs_lane() -> Iterator[Lane]:
    env = os.environ.get
    secret = env("PIPELINE_ORCHESTRATOR_RESUME_TOKEN_SECRET", DEMO_SECRET)
    if env("TPF_AWAIT_SQS_REQUEST_QUEUE_URL"):
        yield Lane(
            "sqs",
            False,
            {
                "request_queue_url": env("TPF_AWAIT_SQS_REQUEST_QUEUE_URL", ""),
                "response_queue_url": env("TPF_AWAIT_SQS_RESPONSE_QUEUE_URL", ""),
                "dead_letter_queue_url": env("TPF_AWAIT_SQS_DEAD_LETTER_QUEUE_URL", ""),
                "endpoint_url": env("PIPELINE_ORCHESTRATOR_SQS_ENDPOINT_OVERRIDE", ""),
                "region": env("PIPELINE_ORCHESTRATOR_SQS_REGION", REGION),
                "resume_token_secret": secret,
            },
        )
        return
    from tpf.dev.moto import AtomicMotoServer

    credentials = {k: os.environ.get(k) or v for k, v in FAKE_CREDENTIALS.items()}
    os.environ.update(credentials)  # this process creates the queues (and the bench answers)
    # One access-log line per SQS request would drown the demo's own output.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = AtomicMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        urls = asyncio.run(_create_queues(endpoint))
        yield Lane(
            "sqs",
            True,
            {
                "request_queue_url": urls[0],
                "response_queue_url": urls[1],
                "dead_letter_queue_url": urls[2],
                "endpoint_url": endpoint,
                "region": REGION,
                "resume_token_secret": secret,
            },
            extra_env=credentials,
        )
    finally:
        server.stop()


async def _create_queues(endpoint: str) -> list[str]:
    from aiobotocore.session import get_session

    async with get_session().create_client("sqs", endpoint_url=endpoint, region_name=REGION) as c:
        return [(await c.create_queue(QueueName=name))["QueueUrl"] for name in QUEUES]


@contextlib.contextmanager
def _kafka_lane() -> Iterator[Lane]:
    env = os.environ.get
    values = {
        "request_topic": env("TPF_AWAIT_KAFKA_REQUEST_TOPIC", TOPICS[0]),
        "response_topic": env("TPF_AWAIT_KAFKA_RESPONSE_TOPIC", TOPICS[1]),
        "dead_letter_topic": env("TPF_AWAIT_KAFKA_DEAD_LETTER_TOPIC", TOPICS[2]),
        "consumer_group": env("TPF_AWAIT_KAFKA_CONSUMER_GROUP", "tpf-await-completions"),
        "resume_token_secret": env("PIPELINE_ORCHESTRATOR_RESUME_TOKEN_SECRET", DEMO_SECRET),
    }
    servers = env("KAFKA_BOOTSTRAP_SERVERS")
    if servers:
        asyncio.run(_create_topics(servers, values))
        yield Lane("kafka", False, {**values, "bootstrap_servers": servers})
        return
    from tpf.dev.tansu import running_broker

    with running_broker() as broker:
        asyncio.run(_create_topics(broker.bootstrap_servers, values))
        yield Lane("kafka", True, {**values, "bootstrap_servers": broker.bootstrap_servers})


async def _create_topics(servers: str, values: dict[str, str]) -> None:
    from tpf.kafka.admin import bootstrap_kafka
    from tpf.kafka.connection import KafkaConnection

    connection = KafkaConnection(
        bootstrap_servers=servers,
        client_id="restaurant-demo",
        security_protocol=os.environ.get("KAFKA_SECURITY_PROTOCOL", "PLAINTEXT"),
        sasl_mechanism=os.environ.get("KAFKA_SASL_MECHANISM"),
        sasl_username=os.environ.get("KAFKA_SASL_USERNAME"),
        sasl_password=os.environ.get("KAFKA_SASL_PASSWORD"),
    )
    topics = {key: values[key] for key in ("request_topic", "response_topic", "dead_letter_topic")}
    partitions = int(os.environ.get("TPF_KAFKA_PARTITIONS", "1"))
    await bootstrap_kafka(connection, topics, partitions=partitions)
