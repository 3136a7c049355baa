"""Real AWS-shaped services for tests: a moto server over HTTP on 127.0.0.1.

``mock_aws()`` does not work with aiobotocore, so tests reach moto's server mode through real
HTTP with ``endpoint_url``, exactly as a coordinator reaches AWS. One server runs per test
session; each test that asks for :func:`aws_settings` gets a reset server and a ``Settings``
whose every AWS endpoint points at it.
"""

from __future__ import annotations

import os
import urllib.request
from collections.abc import Iterator
from pathlib import Path

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


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    saved = {k: os.environ.get(k) for k in FAKE_CREDENTIALS}
    os.environ.update(FAKE_CREDENTIALS)
    server = AtomicMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


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
