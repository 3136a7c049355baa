"""AWS clients for the durable HA shape: one aiobotocore session, one client per service.

Stores and transports take their client from :class:`AwsClients` instead of building their own,
so a coordinator holds one connection pool per service, closes them all at once, and a test or
benchmark can count every request (``requests`` is filled by a botocore event hook). Library
errors are mapped into our error tree here (:func:`error_code`, :func:`is_condition_failed`).

Credentials are ``tpf.aws.access-key-id`` / ``tpf.aws.secret-access-key`` when configured (what
``tpf dev aws`` prints for its local endpoint, which accepts any), else botocore's usual chain
(environment, profile, instance role).
"""

from __future__ import annotations

import contextlib
import functools
import logging
import time
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

from tpf.config import resolve_secret
from tpf.config.settings import Settings

# Local endpoints need a region name but do not care which.
LOCAL_REGION = "us-east-1"
# A reachable endpoint accepts a connection well within this (startup reachability probes).
PROBE_CONNECT_TIMEOUT_S = 3.0

LOG = logging.getLogger(__name__)


class AwsClients:
    def __init__(self, settings: Settings) -> None:
        # aiobotocore (and botocore under it) loads only when a coordinator uses AWS.
        from aiobotocore.session import get_session

        self._settings = settings
        self._session = get_session()
        self._stack = contextlib.AsyncExitStack()
        self._clients: dict[str, Any] = {}
        self.requests: Counter[str] = Counter()
        # The same requests by ``service.Operation`` (``dynamodb.GetItem``): what a cut targets.
        self.operations: Counter[str] = Counter()
        # Seconds spent in each ``service.Operation`` (request sent -> answer parsed, retries
        # included): where a cut pays off. Measurement only, so the monotonic wall clock.
        self.operation_seconds: Counter[str] = Counter()

    def _target(self, service: str) -> tuple[str | None, str | None]:
        s = self._settings
        endpoint, region = {
            "dynamodb": (s.dynamo.endpoint_override, s.dynamo.region),
            "sqs": (s.sqs.endpoint_override, s.sqs.region),
            "s3": (s.s3.endpoint_override, s.s3.region),
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
            s3={"addressing_style": "path"} if self._settings.s3.path_style_access else None,
        )
        client = await self._stack.enter_async_context(
            self._session.create_client(
                service,
                region_name=region,
                endpoint_url=endpoint,
                config=config,
                **self._credentials(),
            )
        )
        # Each client counts its own requests (several may share one local endpoint).
        client.meta.events.register("before-send", functools.partial(self._count, service))
        client.meta.events.register("before-call", self._started)
        client.meta.events.register("after-call", functools.partial(self._finished, service))
        self._clients[service] = client
        return client

    @contextlib.asynccontextmanager
    async def probe_client(self, service: str) -> AsyncIterator[Any]:
        """A one-off client of ``service`` at the configured endpoint that tries once, with a
        short connect timeout: whether the endpoint answers at all should be known at once,
        not after the shared clients' retries."""
        from aiobotocore.config import AioConfig

        endpoint, region = self._target(service)
        config = AioConfig(
            connect_timeout=PROBE_CONNECT_TIMEOUT_S,
            read_timeout=PROBE_CONNECT_TIMEOUT_S * 2,
            retries={"max_attempts": 1, "mode": "standard"},
        )
        async with self._session.create_client(
            service, region_name=region, endpoint_url=endpoint, config=config, **self._credentials()
        ) as client:
            yield client

    def _credentials(self) -> dict[str, str]:
        """``tpf.aws.*`` static credentials when configured; else botocore's chain decides."""
        s = self._settings
        if not (s.aws.access_key_id and s.aws.secret_access_key):
            return {}
        return {
            "aws_access_key_id": s.aws.access_key_id,
            "aws_secret_access_key": resolve_secret(s.aws.secret_access_key),
        }

    def _count(self, service: str, **kwargs: Any) -> None:
        self.requests[service] += 1
        # botocore names the event ``before-send.<service>.<Operation>``.
        self.operations[f"{service}.{str(kwargs.get('event_name', '')).rsplit('.', 1)[-1]}"] += 1

    @staticmethod
    def _started(context: dict[str, Any] | None = None, **_: Any) -> None:
        if context is not None:
            context["tpf_started"] = time.perf_counter()

    def _finished(
        self, service: str, context: dict[str, Any] | None = None, model: Any = None, **_: Any
    ) -> None:
        started = (context or {}).get("tpf_started")
        if started is not None and model is not None:
            self.operation_seconds[f"{service}.{model.name}"] += time.perf_counter() - started

    def summary(self) -> str:
        """Requests and seconds per operation, most requested first (the shutdown debug log)."""
        return ", ".join(
            f"{op}={n} ({self.operation_seconds.get(op, 0.0):.1f}s)"
            for op, n in self.operations.most_common()
        )

    async def close(self) -> None:
        if self.operations:
            LOG.info("AWS requests by operation: %s", self.summary())
        self._clients.clear()
        await self._stack.aclose()


def needs_aws(settings: Settings) -> bool:
    """Whether any configured provider lives on AWS (and so needs :class:`AwsClients`)."""
    from tpf.config.providers import aws_services  # the provider tables say which do

    return bool(aws_services(settings))


def error_code(exc: BaseException) -> str:
    """The AWS error code of a botocore ``ClientError`` (``""`` for anything else)."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code", ""))
    return ""


def is_condition_failed(exc: BaseException) -> bool:
    return error_code(exc) in ("ConditionalCheckFailedException", "TransactionCanceledException")
