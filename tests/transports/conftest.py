"""SQS transports against the moto server: settings with only the SQS providers switched on."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace

import pytest

from tests.aws_calls import CallLog
from tpf.aws.bootstrap import bootstrap_aws
from tpf.aws.clients import AwsClients
from tpf.config.settings import Settings


@pytest.fixture
def sqs_settings(aws_settings: Settings) -> Settings:
    """SQS work queue (polling, not loopback) and SQS DLQ; everything else embedded."""
    return replace(
        aws_settings,
        state=replace(aws_settings.state, provider="memory"),
        releases=replace(
            aws_settings.releases, registry_provider="memory", storage_provider="local"
        ),
        workers=replace(aws_settings.workers, lifecycle_provider="memory"),
        sqs=replace(aws_settings.sqs, local_loopback=False),
    )


@pytest.fixture
async def aws(sqs_settings: Settings) -> AsyncIterator[AwsClients]:
    """Shared clients with the work queue and DLQ created."""
    clients = AwsClients(sqs_settings)
    try:
        assert await bootstrap_aws(sqs_settings, clients) == [
            "created queue tpf-work",
            "created queue tpf-execution-dlq",
        ]
        yield clients
    finally:
        await clients.close()


@pytest.fixture
async def sqs_calls(aws: AwsClients) -> CallLog:
    return CallLog().attach(await aws.client("sqs"))
