"""Logging setup: JSON lines with the structured fields, and ``tpf serve``'s logging flags."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from demos.restaurant_approval import flows
from demos.restaurant_approval.server import DemoServer, free_port
from tpf.core.events import log_event
from tpf.engine import logs


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """``logs.configure`` replaces the root handlers: put pytest's back afterwards."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    access = logging.getLogger(logs.ACCESS_LOGGER)
    access_level = access.level
    try:
        yield
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
        access.setLevel(access_level)


def json_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def test_json_format_writes_one_object_per_line_with_the_fields(restore_logging: None) -> None:
    out = io.StringIO()
    logs.configure("debug", "json", stream=out)
    logger = logging.getLogger("test_logs.sample")
    log_event(logger, logging.INFO, "parked", "acme", "e-1", 2, 0, interactionId="i-1")
    try:
        raise ValueError("bad")
    except ValueError:
        logger.exception("with a traceback\nand a second line")
    first, second = [doc for doc in json_lines(out.getvalue()) if doc["logger"] == logger.name]
    assert first["time"].endswith("+00:00") and first["level"] == "INFO"
    assert first["logger"] == "test_logs.sample"
    assert first["message"] == (
        "parked tenant=acme executionId=e-1 step=2 attempt=0 interactionId=i-1"
    )
    assert {k: first[k] for k in ("event", "tenant", "executionId", "step", "attempt")} == {
        "event": "parked",
        "tenant": "acme",
        "executionId": "e-1",
        "step": 2,
        "attempt": 0,
    }
    assert first["interactionId"] == "i-1"
    assert second["level"] == "ERROR" and "ValueError: bad" in second["exception"]
    assert second["message"] == "with a traceback\nand a second line"


def test_text_format_and_levels(restore_logging: None) -> None:
    out = io.StringIO()
    logs.configure("warning", "text", stream=out)
    logger = logging.getLogger("test_logs.sample")
    logger.info("hidden")
    log_event(logger, logging.WARNING, "retry", "acme", "e-1", 0, 1, errorMessage="a b")
    [line] = [line for line in out.getvalue().splitlines() if logger.name in line]
    assert line.endswith(
        " WARNING test_logs.sample: retry tenant=acme executionId=e-1 step=0 attempt=1"
        ' errorMessage="a b"'
    )
    with pytest.raises(ValueError, match="log format"):
        logs.configure("info", "xml")


def serve(tmp_path: Path, *args: str) -> str:
    """Run ``tpf serve`` with ``args``, park one order through it, stop it: its log."""
    server = DemoServer(tmp_path / "state", free_port(), extra_args=args)
    server.start()
    try:
        client = server.client()
        flows.prepare_release(client, server.state_dir / "build")
        eid = flows.submit_order(client, "Ada Lovelace", "Cafe TPF", "Soup")
        flows.wait_for(client, eid, {"WAITING_EXTERNAL"})
    finally:
        server.stop()
    return server.log()


def test_serve_json_log_with_access_log(tmp_path: Path) -> None:
    log = serve(tmp_path, "--log-format", "json", "--access-log", "--log-level", "debug")
    lines = json_lines(log)
    assert lines, log
    assert all({"time", "level", "logger", "message"} <= set(line) for line in lines)
    parked = [line for line in lines if line.get("event") == "parked"]
    assert len(parked) == 1, log
    assert parked[0]["tenant"] == "restaurant-demo" and parked[0]["step"] == 2
    assert parked[0]["interactionId"] and parked[0]["deadlineEpochMs"] > 0
    access = [line for line in lines if line["logger"] == logs.ACCESS_LOGGER]
    assert any("GET /q/health/ready" in line["message"] for line in access), log


def test_serve_logs_text_without_access_log_by_default(tmp_path: Path) -> None:
    log = serve(tmp_path, "--log-level", "debug")
    assert not json_lines(log)
    assert " DEBUG tpf.execution: parked tenant=restaurant-demo executionId=" in log
    assert logs.ACCESS_LOGGER not in log and "GET /q/health/ready" not in log
