"""Fixtures shared by the whole suite."""

from collections.abc import Iterator
from typing import Any

import pytest

from tests.aws import aws_settings, moto_endpoint, moto_server
from tests.kafka_broker import KafkaBroker, running_broker
from tests.serving import restaurant_server
from tests.shared_tables import dynamo_settings, shared_tables

__all__ = [
    "aws_settings",
    "dynamo_settings",
    "kafka_broker",
    "moto_endpoint",
    "moto_server",
    "restaurant_server",
    "shared_tables",
]


@pytest.fixture(scope="session")
def kafka_broker() -> Iterator[KafkaBroker]:
    """One Tansu per session, shared by the Kafka transport tests, the demos and their tests."""
    with running_broker() as broker:
        yield broker


@pytest.fixture(scope="session", autouse=True)
def shared_botocore_models() -> Iterator[None]:
    """Every aiobotocore session of the run reads the service models through one loader.

    Each ``AwsClients`` opens its own session, and a fresh session parses botocore's JSON models
    again for its first client (~0.1 s each, hundreds of times a run). The loader only caches
    files it read, so sharing it changes nothing a client does; a coordinator in a child process
    still loads its own.
    """
    import aiobotocore.session
    from botocore.loaders import create_loader

    loader = create_loader()
    original = aiobotocore.session.get_session

    def get_session(env_vars: Any = None) -> Any:
        session = original(env_vars)
        session.register_component("data_loader", loader)
        return session

    aiobotocore.session.get_session = get_session  # type: ignore[assignment]
    try:
        yield
    finally:
        aiobotocore.session.get_session = original


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Print what the exhaustive crash tests covered (tests/testing record ``crash_points`` and
    ``crash_runs``), so a plain ``make test`` shows the counts, not only ``-s``."""
    lines = []
    for report in terminalreporter.stats.get("passed", []):
        props = dict(getattr(report, "user_properties", ()))
        if report.when == "call" and "crash_points" in props:
            name = report.nodeid.split("::", 1)[1]
            runs = f", {props['crash_runs']} crash runs" if "crash_runs" in props else ""
            lines.append(f"{name}: {props['crash_points']} crash points{runs}")
    if lines:
        terminalreporter.section("crash points covered (tpf.testing.exhaustive)")
        for line in sorted(lines):
            terminalreporter.line(line)
