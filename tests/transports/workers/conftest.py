"""SQS worker queues on the moto server (the transports' ``aws`` fixture creates the rest)."""

from __future__ import annotations

import pytest

from tests.transports.workers.sqs_worker_kit import create_queue
from tpf.aws.clients import AwsClients


@pytest.fixture
async def worker_queues(aws: AwsClients) -> tuple[str, str]:
    """The request and response queues, visibility timeout 30 s (= the default request
    timeout)."""
    return (
        await create_queue(aws, "tpf-worker-requests"),
        await create_queue(aws, "tpf-worker-responses"),
    )
