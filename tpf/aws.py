"""AWS clients for the durable HA shape: one aiobotocore session, one client per service.

Stores and transports take their client from :class:`AwsClients` instead of building their own,
so a coordinator holds one connection pool per service, closes them all at once, and a test or
benchmark can count every request (``requests`` is filled by a botocore event hook). Library
errors are mapped into our error tree here (:func:`error_code`, :func:`is_condition_failed`).

Credentials come from botocore's usual chain (environment, profile, instance role); a local
endpoint (``*.endpoint-override``) such as moto accepts any.
"""

from __future__ import annotations

import contextlib
import functools
from collections import Counter
from typing import Any

from tpf.settings import Settings

# Local endpoints need a region name but do not care which.
LOCAL_REGION = "us-east-1"


class AwsClients:
    def __init__(self, settings: Settings) -> None:
        # aiobotocore (and botocore under it) loads only when a coordinator uses AWS.
        from aiobotocore.session import get_session

        self._settings = settings
        self._session = get_session()
        self._stack = contextlib.AsyncExitStack()
        self._clients: dict[str, Any] = {}
        self.requests: Counter[str] = Counter()

    def _target(self, service: str) -> tuple[str | None, str | None]:
        s = self._settings
        endpoint, region = {
            "dynamodb": (s.dynamo_endpoint_override, s.dynamo_region),
            "sqs": (s.sqs_endpoint_override, s.sqs_region),
            "s3": (s.s3_endpoint_override, s.s3_region),
        }[service]
        if endpoint and not region:
            region = LOCAL_REGION
        return endpoint, region

    async def client(self, service: str) -> Any:
        """The shared client for ``dynamodb``, ``sqs`` or ``s3`` (created on first use)."""
        existing = self._clients.get(service)
        if existing is not None:
            return existing
        from aiobotocore.config import AioConfig

        endpoint, region = self._target(service)
        config = AioConfig(
            max_pool_connections=64,
            retries={"max_attempts": 3, "mode": "standard"},
            s3={"addressing_style": "path"} if self._settings.s3_path_style_access else None,
        )
        client = await self._stack.enter_async_context(
            self._session.create_client(
                service, region_name=region, endpoint_url=endpoint, config=config
            )
        )
        # Each client counts its own requests (several may share one local endpoint).
        client.meta.events.register("before-send", functools.partial(self._count, service))
        self._clients[service] = client
        return client

    def _count(self, service: str, **kwargs: Any) -> None:
        self.requests[service] += 1

    async def close(self) -> None:
        self._clients.clear()
        await self._stack.aclose()


def needs_aws(settings: Settings) -> bool:
    """Whether any configured provider lives on AWS (and so needs :class:`AwsClients`)."""
    return (
        "dynamo"
        in (
            settings.state_provider,
            settings.releases_registry_provider,
            settings.worker_lifecycle_provider,
        )
        or "sqs" in (settings.dispatcher_provider, settings.dlq_provider)
        or settings.releases_storage_provider == "s3"
    )


def error_code(exc: BaseException) -> str:
    """The AWS error code of a botocore ``ClientError`` (``""`` for anything else)."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code", ""))
    return ""


def is_condition_failed(exc: BaseException) -> bool:
    return error_code(exc) in ("ConditionalCheckFailedException", "TransactionCanceledException")
