"""Strict startup: refuse to run on AWS endpoints or Kafka clusters that do not answer or
resources (tables, queues, buckets, topics) that do not exist, naming each one.

With ``pipeline.orchestrator.strict-startup=true`` (the default) a coordinator checks, before it
accepts work, that each AWS endpoint it uses answers at all, then that the DynamoDB tables and
indexes, queues and bucket its configuration uses exist, and fails with one
:class:`~tpf.errors.ConfigError` listing every problem, instead of failing later on the first
message, registration or DLQ publish (or with a library traceback about a refused connection).

Before the resource check, with ``tpf.dynamo.schema-upgrade=true`` (the default, strict or not)
a coordinator adds the DynamoDB indexes and tables it needs beyond the original's layout
(:mod:`tpf.stores.dynamo.schema_upgrade`), so tables provisioned by the original's bootstrap
scripts run unchanged; with ``false`` strict startup names those pieces as missing instead.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from tpf.aws.bootstrap import missing_aws_resources, named_bucket, named_queues, uses_dynamo
from tpf.aws.clients import AwsClients
from tpf.config.providers import kafka_topics, missing_resources
from tpf.config.settings import Settings
from tpf.core.errors import ConfigError, TpfError

_P = "pipeline.orchestrator."
LOG = logging.getLogger("tpf.schema")
# A reachable endpoint answers a probe in well under this, even a loaded local one.
PROBE_TIMEOUT_S = 10.0

Probe = Callable[[Any], Awaitable[Any]]


async def check_aws_resources(settings: Settings, aws: AwsClients | None) -> None:
    """Raise :class:`ConfigError` naming every unreachable endpoint or missing resource
    (strict startup only), after the DynamoDB schema upgrade (when it is on)."""
    if aws is None:
        return
    if settings.startup.strict:
        unreachable = await unreachable_endpoints(settings, aws)
        if unreachable:
            raise ConfigError(
                "strict startup: cannot reach "
                + "; ".join(unreachable)
                + " (start it, for example with `tpf dev aws`, or fix the endpoint setting)"
            )
    await upgrade_dynamo_schema(settings, aws)
    if not settings.startup.strict:
        return
    # One error listing everything missing (tables, indexes, queues, bucket), so an operator
    # fixes the deployment in one go rather than one resource per restart.
    missing_tables = await missing_resources(settings, aws)  # the chosen providers' checks
    missing = missing_tables + await missing_aws_resources(settings, aws)
    if missing:
        upgrade = ""
        if missing_tables and not settings.dynamo.schema_upgrade:
            upgrade = (
                "; it adds missing indexes to existing tables too, and with "
                "tpf.dynamo.schema-upgrade=true the coordinator adds the indexes and tables it "
                "needs beyond the original's layout itself"
            )
        raise ConfigError(
            "strict startup: missing AWS resources: "
            + "; ".join(missing)
            + " (create them, for example with `tpf bootstrap aws`"
            + upgrade
            + ", or set pipeline.orchestrator.strict-startup=false)"
        )


async def upgrade_dynamo_schema(settings: Settings, aws: AwsClients) -> list[str]:
    """Run the schema upgrade if it is on and a provider is ``dynamo``; what it added.

    A failure (no permission for ``UpdateTable``, an index not ACTIVE in time) refuses a strict
    start and is a warning otherwise, as any other startup check."""
    if not settings.dynamo.schema_upgrade or not uses_dynamo(settings):
        return []
    from tpf.stores.dynamo.schema_upgrade import upgrade_schema

    try:
        return await upgrade_schema(await aws.client("dynamodb"), settings)
    except TpfError as exc:
        if not settings.startup.strict:
            LOG.warning("schema upgrade failed: %s", exc.message)
            return []
        raise ConfigError(
            f"strict startup: DynamoDB schema upgrade failed: {exc.message} (allow the "
            "coordinator dynamodb:UpdateTable and dynamodb:CreateTable, or add what it needs "
            "with `tpf bootstrap aws`, or set tpf.dynamo.schema-upgrade=false to only check)"
        ) from exc


async def check_kafka_resources(settings: Settings) -> None:
    """Strict startup: raise :class:`ConfigError` naming every Kafka topic the chosen
    providers use that the cluster lacks (or the cluster, if it cannot be reached)."""
    topics = kafka_topics(settings)
    if not settings.startup.strict or not topics:
        return
    from tpf.kafka.admin import check_kafka_topics  # loads aiokafka: on demand
    from tpf.kafka.settings import kafka_connection

    await check_kafka_topics(kafka_connection(settings), topics)


def _probes(settings: Settings) -> list[tuple[str, str, str, Probe]]:
    """``(service, name, endpoint key, probe)`` of each AWS service the configuration uses.

    A probe is the cheapest call of the service; only a failure to connect counts, so an
    answer that refuses it (no permission to list) still proves the endpoint is there."""
    probes: list[tuple[str, str, str, Probe]] = []
    if uses_dynamo(settings):
        probes.append(
            ("dynamodb", "DynamoDB", "dynamo.endpoint-override", lambda c: c.list_tables(Limit=1))
        )
    if named_queues(settings):
        probes.append(
            ("sqs", "SQS", "sqs.endpoint-override", lambda c: c.list_queues(MaxResults=1))
        )
    if named_bucket(settings) is not None:
        probes.append(
            ("s3", "S3", "releases.storage.s3.endpoint-override", lambda c: c.list_buckets())
        )
    return probes


async def unreachable_endpoints(settings: Settings, aws: AwsClients) -> list[str]:
    """One line per configured AWS endpoint that cannot be connected to."""

    async def probe(service: str, name: str, key: str, call: Probe) -> str | None:
        async with aws.probe_client(service) as client:
            endpoint = client.meta.endpoint_url
            try:
                await asyncio.wait_for(call(client), PROBE_TIMEOUT_S)
            except TimeoutError:
                return (
                    f"the {name} endpoint {endpoint} ({_P}{key}): no answer in {PROBE_TIMEOUT_S} s"
                )
            except Exception as exc:
                if not _is_connection_failure(exc):
                    return None  # it answered, if only to refuse: it is there
                return f"the {name} endpoint {endpoint} ({_P}{key}): {exc}"
        return None

    found = await asyncio.gather(*(probe(*p) for p in _probes(settings)))
    return [line for line in found if line is not None]


def _is_connection_failure(exc: BaseException) -> bool:
    from botocore.exceptions import ConnectionError as BotoConnectionError
    from botocore.exceptions import HTTPClientError

    return isinstance(exc, BotoConnectionError | HTTPClientError | OSError)
