"""bootstrap_aws creates what a configuration names, once; strict startup names what is missing."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace

import pytest

from tpf.aws.bootstrap import bootstrap_aws, missing_aws_resources, queue_name
from tpf.aws.clients import AwsClients
from tpf.config.settings import Settings
from tpf.coordinator import Coordinator
from tpf.core.errors import ConfigError

EMBEDDED_STATE = {
    "state__provider": "memory",
    "releases__registry_provider": "memory",
    "workers__lifecycle_provider": "memory",
}


@pytest.fixture
def settings(aws_settings: Settings) -> Settings:
    """Queues and bucket on moto; DynamoDB providers off."""
    return aws_settings.replace(**EMBEDDED_STATE)


@pytest.fixture
async def aws(settings: Settings) -> AsyncIterator[AwsClients]:
    clients = AwsClients(settings)
    yield clients
    await clients.close()


def test_queue_name_is_the_last_path_component() -> None:
    assert queue_name("https://sqs.eu-west-1.amazonaws.com/123456789012/tpf-work") == "tpf-work"
    assert queue_name("http://127.0.0.1:4566/000000000000/tpf-execution-dlq/") == (
        "tpf-execution-dlq"
    )


async def test_bootstrap_creates_queues_and_bucket_once(
    settings: Settings, aws: AwsClients
) -> None:
    assert await missing_aws_resources(settings, aws) == [
        f"queue tpf-work (pipeline.orchestrator.queue-url={settings.sqs.queue_url})",
        f"queue tpf-execution-dlq (pipeline.orchestrator.dlq-url={settings.sqs.dlq_url})",
        "bucket tpf-release-artifacts (pipeline.orchestrator.releases.storage.s3.bucket)",
    ]
    assert await bootstrap_aws(settings, aws) == [
        "created queue tpf-work",
        "created queue tpf-execution-dlq",
        "created bucket tpf-release-artifacts",
    ]
    assert await missing_aws_resources(settings, aws) == []
    assert await bootstrap_aws(settings, aws) == []  # idempotent


async def test_only_what_the_providers_use_is_created(settings: Settings, aws: AwsClients) -> None:
    only_dlq = replace(
        settings,
        work_queue=replace(settings.work_queue, provider="event"),
        releases=replace(settings.releases, storage_provider="local"),
    )
    assert await bootstrap_aws(only_dlq, aws) == ["created queue tpf-execution-dlq"]
    assert await missing_aws_resources(only_dlq, aws) == []
    assert len(await missing_aws_resources(settings, aws)) == 2  # work queue and bucket


async def test_recipe_urls_and_a_regional_bucket(aws_settings: Settings) -> None:
    """The recipe names real AWS URLs and eu-west-1; with an endpoint override they still
    resolve (by queue name), and the bucket gets the region's location constraint."""
    settings = replace(
        aws_settings,
        sqs=replace(
            aws_settings.sqs,
            region="eu-west-1",
            queue_url="https://sqs.eu-west-1.amazonaws.com/123456789012/tpf-work",
            dlq_url="https://sqs.eu-west-1.amazonaws.com/123456789012/tpf-execution-dlq",
        ),
        s3=replace(aws_settings.s3, region="eu-west-1"),
    ).replace(**EMBEDDED_STATE)
    aws = AwsClients(settings)
    try:
        created = await bootstrap_aws(settings, aws)
        assert [line.split(" at ")[0] for line in created] == [
            "created queue tpf-work",
            "created queue tpf-execution-dlq",
            "created bucket tpf-release-artifacts",
        ]
        assert " at http://127.0.0.1:" in created[0]  # where the local endpoint put it
        assert await missing_aws_resources(settings, aws) == []
        s3 = await aws.client("s3")
        location = await s3.get_bucket_location(Bucket="tpf-release-artifacts")
        assert location["LocationConstraint"] == "eu-west-1"
    finally:
        await aws.close()


async def test_dynamo_tables_are_delegated_to_the_schema(aws_settings: Settings) -> None:
    aws = AwsClients(aws_settings)
    try:
        created = await bootstrap_aws(aws_settings, aws)
        assert "created queue tpf-work" in created
        assert any("tpf_execution" in line for line in created)
        assert await bootstrap_aws(aws_settings, aws) == []
    finally:
        await aws.close()


async def test_a_missing_url_is_a_config_error(settings: Settings, aws: AwsClients) -> None:
    with pytest.raises(ConfigError, match=r"pipeline\.orchestrator\.queue-url is required"):
        await bootstrap_aws(replace(settings, sqs=replace(settings.sqs, queue_url=None)), aws)
    with pytest.raises(ConfigError, match=r"releases\.storage\.s3\.bucket is required"):
        await missing_aws_resources(replace(settings, s3=replace(settings.s3, bucket=None)), aws)


async def test_strict_startup_refuses_and_names_every_missing_resource(
    settings: Settings, aws: AwsClients
) -> None:
    sqs_only = replace(settings, releases=replace(settings.releases, storage_provider="local"))
    with pytest.raises(ConfigError) as info:
        await Coordinator.open(sqs_only)
    message = str(info.value)
    assert "strict startup" in message and "tpf bootstrap aws" in message
    assert "queue tpf-work" in message and "queue tpf-execution-dlq" in message
    # Once they exist it opens; without strict startup it does not look.
    await bootstrap_aws(replace(sqs_only, dlq=replace(sqs_only.dlq, provider="log")), aws)
    with pytest.raises(ConfigError, match="tpf-execution-dlq") as info:
        await Coordinator.open(sqs_only)
    assert "tpf-work" not in str(info.value)
    lenient = await Coordinator.open(
        replace(sqs_only, startup=replace(sqs_only.startup, strict=False))
    )
    await lenient.close()
    await bootstrap_aws(sqs_only, aws)
    coordinator = await Coordinator.open(sqs_only)
    await coordinator.close()
