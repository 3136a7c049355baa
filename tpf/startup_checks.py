"""Strict startup: refuse to run on AWS resources that do not exist, naming each one.

With ``pipeline.orchestrator.strict-startup=true`` (the default) a coordinator checks, before it
accepts work, that the DynamoDB tables and indexes, queues and bucket its configuration uses
exist, and fails with one :class:`~tpf.errors.ConfigError` listing all that are missing,
instead of failing later on the first message, registration or DLQ publish.
"""

from __future__ import annotations

from tpf.aws import AwsClients
from tpf.bootstrap import missing_aws_resources
from tpf.errors import ConfigError
from tpf.settings import Settings
from tpf.stores.factory import check_dynamo


async def check_aws_resources(settings: Settings, aws: AwsClients | None) -> None:
    """Raise :class:`ConfigError` naming every missing resource (strict startup only)."""
    if not settings.strict_startup or aws is None:
        return
    # One error listing everything missing (tables, indexes, queues, bucket), so an operator
    # fixes the deployment in one go rather than one resource per restart.
    missing = await check_dynamo(aws, settings) + await missing_aws_resources(settings, aws)
    if missing:
        raise ConfigError(
            "strict startup: missing AWS resources: "
            + "; ".join(missing)
            + " (create them, for example with `tpf bootstrap aws`, or set "
            "pipeline.orchestrator.strict-startup=false)"
        )
