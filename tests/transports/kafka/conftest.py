"""The Kafka tests' broker: one Tansu per session, shared by every test here.

Lift :func:`kafka_broker` into ``tests/conftest.py`` when tests elsewhere (demos, benches) need it.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.kafka_broker import KafkaBroker, running_broker
from tpf.kafka.connection import KafkaConnection


@pytest.fixture(scope="session")
def kafka_broker() -> Iterator[KafkaBroker]:
    with running_broker() as broker:
        yield broker


@pytest.fixture
def kafka(kafka_broker: KafkaBroker) -> KafkaConnection:
    """Plaintext connection settings for the session's broker."""
    return KafkaConnection(bootstrap_servers=kafka_broker.bootstrap_servers, client_id="tpf-test")
