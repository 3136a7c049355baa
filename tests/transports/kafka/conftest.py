"""The Kafka tests' connection settings, on the session's broker (``kafka_broker``, in
``tests/conftest.py``: tests elsewhere, the await crash tests, use it too)."""

from __future__ import annotations

import pytest

from tests.kafka_broker import KafkaBroker
from tpf.kafka.connection import KafkaConnection


@pytest.fixture
def kafka(kafka_broker: KafkaBroker) -> KafkaConnection:
    """Plaintext connection settings for the session's broker."""
    return KafkaConnection(bootstrap_servers=kafka_broker.bootstrap_servers, client_id="tpf-test")
