"""Real AWS-shaped services for tests: a moto server over HTTP on 127.0.0.1.

``mock_aws()`` does not work with aiobotocore, so tests reach moto's server mode through real
HTTP with ``endpoint_url``, exactly as a coordinator reaches AWS. One server runs per test
session; each test that asks for :func:`aws_settings` gets a reset server and a ``Settings``
whose every AWS endpoint points at it. The server counts the requests that change more than
DynamoDB items (:attr:`CountingMotoServer.changes`), so the store tests can keep their tables for
the session and only empty them between tests (``tests/stores/conftest.py``).
"""

from __future__ import annotations

import logging
import os
import threading
import urllib.request
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tpf.config.settings import (
    DlqSettings,
    DynamoSettings,
    ReleaseSettings,
    S3Settings,
    Settings,
    SqsSettings,
    StateSettings,
    WorkerSettings,
    WorkQueueSettings,
)
from tpf.dev.moto import AtomicMotoServer

REGION = "us-east-1"
# moto accepts any credentials; botocore insists that some exist.
FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": REGION,
}


# DynamoDB operations that read or write items and nothing else: tables, indexes, TTL settings
# and every other service's state stay as they were.
ITEM_OPERATIONS = frozenset(
    {
        "BatchGetItem",
        "BatchWriteItem",
        "DeleteItem",
        "DescribeTable",
        "DescribeTimeToLive",
        "GetItem",
        "ListTables",
        "PutItem",
        "Query",
        "Scan",
        "TransactGetItems",
        "TransactWriteItems",
        "UpdateItem",
    }
)


class CountingMotoServer(AtomicMotoServer):
    """The session's moto server, counting every request that is not a DynamoDB item operation
    (a reset, a table or index change, any SQS or S3 call)."""

    def __init__(self) -> None:
        super().__init__(ip_address="127.0.0.1", port=0, verbose=False)
        self.changes = 0
        self._lock = threading.Lock()

    @property
    def endpoint(self) -> str:
        host, port = self.get_host_and_port()
        return f"http://{host}:{port}"

    def application(self) -> Any:
        served = super().application()

        def counting(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
            service, _, operation = str(environ.get("HTTP_X_AMZ_TARGET", "")).partition(".")
            if not (service.startswith("DynamoDB_") and operation in ITEM_OPERATIONS):
                with self._lock:  # the server answers each request on its own thread
                    self.changes += 1
            result: Iterable[bytes] = served(environ, start_response)
            return result

        return counting


@pytest.fixture(scope="session")
def moto_server() -> Iterator[CountingMotoServer]:
    saved = {k: os.environ.get(k) for k in FAKE_CREDENTIALS}
    os.environ.update(FAKE_CREDENTIALS)
    # No access-log record per AWS request: the thousands of them cost time (each is captured
    # for the test's report) and drown a failure's report.
    werkzeug = logging.getLogger("werkzeug")
    level = werkzeug.level
    werkzeug.setLevel(logging.WARNING)
    server = CountingMotoServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()
        werkzeug.setLevel(level)
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@pytest.fixture(scope="session")
def moto_endpoint(moto_server: CountingMotoServer) -> str:
    return moto_server.endpoint


def reset_moto(endpoint: str) -> None:
    request = urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST")
    with urllib.request.urlopen(request, timeout=10) as response:
        response.read()


def settings_for(endpoint: str, tmp_path: Path, **overrides: object) -> Settings:
    """The recipe's durable shape (dynamo, sqs, s3) pointed at ``endpoint``."""
    base = Settings(
        state=StateSettings(provider="dynamo", dir=str(tmp_path / "state")),
        work_queue=WorkQueueSettings(provider="sqs"),
        dlq=DlqSettings(provider="sqs"),
        releases=ReleaseSettings(registry_provider="dynamo", storage_provider="s3"),
        workers=WorkerSettings(lifecycle_provider="dynamo"),
        dynamo=DynamoSettings(region=REGION, endpoint_override=endpoint),
        sqs=SqsSettings(
            region=REGION,
            endpoint_override=endpoint,
            queue_url=f"{endpoint}/123456789012/tpf-work",
            dlq_url=f"{endpoint}/123456789012/tpf-execution-dlq",
        ),
        s3=S3Settings(
            region=REGION,
            endpoint_override=endpoint,
            path_style_access=True,
            bucket="tpf-release-artifacts",
        ),
    )
    return base.replace(**overrides)


@pytest.fixture
def aws_settings(moto_endpoint: str, tmp_path: Path) -> Settings:
    """A reset moto server and settings pointing every AWS provider at it (nothing created)."""
    reset_moto(moto_endpoint)
    return settings_for(moto_endpoint, tmp_path)
