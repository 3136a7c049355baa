"""Create, or find missing, the AWS resources a configuration names (local development, tests).

A resource is *named* when a configured provider uses it: the work queue for
``dispatcher-provider=sqs`` (``queue-url``), the DLQ for ``dlq-provider=sqs`` (``dlq-url``),
the await queues for ``tpf.await-transport=sqs`` (``tpf.await.sqs.*-queue-url``),
the bucket for ``releases.storage.provider=s3``, and the DynamoDB tables and indexes for any
``dynamo`` provider (delegated to :func:`tpf.stores.dynamo.schema.create_tables`). Queue names
are the last path component of their URL; queues are standard queues with default attributes,
as the original's bootstrap scripts create them.

:func:`bootstrap_aws` is idempotent: it creates only what is absent and says what it created,
so a second run returns nothing. :func:`missing_aws_resources` is the read-only half that strict
startup uses to refuse to run on a half-provisioned account, naming exactly what is missing.
This is a developer convenience, not production provisioning (use your infrastructure tooling).
"""

from __future__ import annotations

import importlib
from collections.abc import Awaitable, Callable
from typing import Any, Protocol, cast

from tpf.aws.clients import AwsClients, error_code
from tpf.config.settings import Settings
from tpf.core.errors import ConfigError

_P = "pipeline.orchestrator."
_NO_QUEUE = frozenset({"AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist"})
_NO_BUCKET = frozenset({"404", "NoSuchBucket", "NotFound"})


class _Sqs(Protocol):
    async def get_queue_attributes(self, **kwargs: Any) -> dict[str, Any]: ...
    async def create_queue(self, **kwargs: Any) -> dict[str, Any]: ...


class _S3(Protocol):
    async def head_bucket(self, **kwargs: Any) -> dict[str, Any]: ...
    async def create_bucket(self, **kwargs: Any) -> dict[str, Any]: ...


def queue_name(url: str) -> str:
    """The queue name in a queue URL (its last path component)."""
    return url.rstrip("/").rsplit("/", 1)[-1]


def named_queues(settings: Settings) -> list[tuple[str, str]]:
    """``(property, url)`` of every queue the configuration uses."""
    queues: list[tuple[str, str]] = []
    for provider_key, provider, key, url in (
        ("dispatcher-provider", settings.work_queue.provider, "queue-url", settings.sqs.queue_url),
        ("dlq-provider", settings.dlq.provider, "dlq-url", settings.sqs.dlq_url),
    ):
        if provider != "sqs":
            continue
        if not url:
            raise ConfigError(f"{_P}{key} is required when {provider_key}=sqs")
        queues.append((_P + key, url))
    if settings.awaits.transport == "sqs":  # the configured await channel's queues
        awaits = settings.awaits
        for key, url in (
            ("tpf.await.sqs.request-queue-url", awaits.sqs_request_queue_url),
            ("tpf.await.sqs.response-queue-url", awaits.sqs_response_queue_url),
            ("tpf.await.sqs.dead-letter-queue-url", awaits.sqs_dead_letter_queue_url),
        ):
            if url:
                queues.append((key, url))
    return queues


def named_bucket(settings: Settings) -> str | None:
    if settings.releases.storage_provider != "s3":
        return None
    if not settings.s3.bucket:
        raise ConfigError(
            f"{_P}releases.storage.s3.bucket is required when releases.storage.provider=s3"
        )
    return settings.s3.bucket


def uses_dynamo(settings: Settings) -> bool:
    from tpf.config.providers import uses_dynamo as chosen_use_dynamo  # read from the tables

    return chosen_use_dynamo(settings)


def _is_queue_missing(exc: BaseException) -> bool:
    if error_code(exc) in _NO_QUEUE:
        return True
    response = getattr(exc, "response", None)
    query_code = response.get("Error", {}).get("QueryErrorCode") if response else None
    return query_code in _NO_QUEUE


async def _queue_exists(sqs: _Sqs, url: str) -> bool:
    # By URL, not by name: the URL (account, region) is what the coordinator will use.
    try:
        await sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
    except Exception as exc:
        if _is_queue_missing(exc):
            return False
        raise
    return True


async def _bucket_exists(s3: _S3, bucket: str) -> bool:
    try:
        await s3.head_bucket(Bucket=bucket)
    except Exception as exc:
        if error_code(exc) in _NO_BUCKET:
            return False
        raise
    return True


def _schema_function(name: str) -> Callable[[Any, Settings], Awaitable[list[str]]]:
    # Imported lazily: the dynamo stores are optional for everything else here.
    try:
        schema = importlib.import_module("tpf.stores.dynamo.schema")
        function = getattr(schema, name)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(
            f"DynamoDB providers are configured but tpf.stores.dynamo.schema.{name} is not "
            f"available in this build ({exc})"
        ) from exc
    return cast(Callable[[Any, Settings], Awaitable[list[str]]], function)


async def bootstrap_aws(settings: Settings, aws: AwsClients) -> list[str]:
    """Create every named resource that does not exist yet; one line per thing created."""
    created: list[str] = []
    queues = named_queues(settings)
    bucket = named_bucket(settings)
    if queues:
        sqs = cast(_Sqs, await aws.client("sqs"))
        for _, url in queues:
            if not await _queue_exists(sqs, url):
                name = queue_name(url)
                made = await sqs.create_queue(QueueName=name)
                where = made.get("QueueUrl", "")
                note = "" if where.rstrip("/") == url.rstrip("/") else f" at {where}"
                created.append(f"created queue {name}{note}")
    if bucket is not None:
        s3 = cast(_S3, await aws.client("s3"))
        if not await _bucket_exists(s3, bucket):
            region = getattr(getattr(s3, "meta", None), "region_name", None)
            extra: dict[str, Any] = {}
            if region and region != "us-east-1":  # us-east-1 must not be named (S3's rule)
                extra["CreateBucketConfiguration"] = {"LocationConstraint": region}
            try:
                await s3.create_bucket(Bucket=bucket, **extra)
            except Exception as exc:
                if error_code(exc) != "BucketAlreadyOwnedByYou":  # a concurrent bootstrap
                    raise
            else:
                created.append(f"created bucket {bucket}")
    if uses_dynamo(settings):
        create_tables = _schema_function("create_tables")
        created.extend(await create_tables(await aws.client("dynamodb"), settings))
    return created


async def missing_aws_resources(settings: Settings, aws: AwsClients) -> list[str]:
    """The named queues and bucket that do not exist (or cannot be checked), by name.

    DynamoDB tables and indexes are not checked here (the dynamo stores own their schema).
    """
    missing: list[str] = []
    queues = named_queues(settings)
    bucket = named_bucket(settings)
    if queues:
        sqs = cast(_Sqs, await aws.client("sqs"))
        for key, url in queues:
            try:
                if not await _queue_exists(sqs, url):
                    missing.append(f"queue {queue_name(url)} ({key}={url})")
            except Exception as exc:
                missing.append(f"queue {queue_name(url)} ({key}={url}; cannot check: {exc})")
    if bucket is not None:
        s3 = cast(_S3, await aws.client("s3"))
        key = f"{_P}releases.storage.s3.bucket"
        try:
            if not await _bucket_exists(s3, bucket):
                missing.append(f"bucket {bucket} ({key})")
        except Exception as exc:
            missing.append(f"bucket {bucket} ({key}; cannot check: {exc})")
    return missing
