"""SIGKILL a coordinator on a broker await lane (Kafka on Tansu, SQS on moto) and restart it.

Two windows of issue 10's acceptance, each made deterministic by a test-only hook in the child
(:mod:`tests.crash.await_child`), not by timing:

- *after the park commit, before the dispatch publishes*: every interaction is stored
  ``CREATED`` and the publish never returns; the second coordinator on the same SQLite files
  publishes them from the outbox, the restaurant (this test) answers, every execution finishes;
- *after consuming a completion, before applying it*: nothing is acknowledged (no Kafka offset
  committed, no SQS delete), so the broker delivers the completion again to the second
  coordinator, and every execution finishes exactly once.

Both children append their commits to one log: no version of an execution commits twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.kafka_broker import KafkaBroker
from tests.transports.kafka.test_await_lanes import (
    _kafka_responder,
    _sqs_keys,
    _sqs_responder,
    embedded,
)
from tests.transports.kafka.test_await_lanes import sqs_urls as sqs_urls  # the fixture
from tpf.aws.clients import AwsClients
from tpf.config import load_settings
from tpf.kafka.admin import bootstrap_kafka
from tpf.kafka.settings import kafka_connection

ROOT = Path(__file__).resolve().parents[2]
COUNT = 4
STEP_S = 60.0  # per child step (a line, an exit); the tests take a few seconds


@dataclass
class Lane:
    keys: dict[str, str]
    responder: Callable[[], Coroutine[Any, Any, None]]


@pytest.fixture
async def kafka_lane(kafka_broker: KafkaBroker) -> Lane:
    prefix = f"await-crash-{uuid.uuid4().hex[:8]}"
    keys = {
        "tpf.await-transport": "kafka",
        "kafka.bootstrap-servers": kafka_broker.bootstrap_servers,
        "tpf.await.kafka.request-topic": f"{prefix}-requests",
        "tpf.await.kafka.response-topic": f"{prefix}-responses",
        "tpf.await.kafka.dead-letter-topic": f"{prefix}-dead-letters",
        "tpf.await.kafka.consumer-group": f"{prefix}-coordinators",
    }
    connection = kafka_connection(load_settings({}, overrides=keys))
    topics = {k: v for k, v in keys.items() if k.endswith("-topic")}
    await bootstrap_kafka(connection, topics, partitions=2)
    return Lane(keys, lambda: _kafka_responder(connection.client_kwargs(), keys))


@pytest.fixture
async def sqs_lane(moto_endpoint: str, sqs_urls: dict[str, str]) -> AsyncIterator[Lane]:
    # A completion received by the killed child is visible again after 1 s.
    keys = _sqs_keys(moto_endpoint, sqs_urls) | {"tpf.await.sqs.visibility-timeout": "PT1S"}
    aws = AwsClients(embedded(Path("/nonexistent"), **keys))  # the restaurant's own client

    async def responder() -> None:
        await _sqs_responder(await aws.client("sqs"), sqs_urls)

    try:
        yield Lane(keys, responder)
    finally:
        await aws.close()


@pytest.fixture(params=["kafka", "sqs"])
def lane(request: pytest.FixtureRequest) -> Lane:
    fixture: Lane = request.getfixturevalue(f"{request.param}_lane")
    return fixture


async def spawn(*args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.crash.await_child",
        *args,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def until_ready(child: asyncio.subprocess.Process) -> list[str]:
    """The child's lines up to ``READY``; fails with its stderr if it exits first."""
    assert child.stdout is not None and child.stderr is not None
    lines: list[str] = []
    while True:
        line = (await asyncio.wait_for(child.stdout.readline(), STEP_S)).decode().strip()
        if line == "READY":
            return lines
        if not line:
            err = (await asyncio.wait_for(child.stderr.read(), STEP_S)).decode()
            pytest.fail(f"child exited before READY:\n{err[-4000:]}")
        lines.append(line)


async def kill(child: asyncio.subprocess.Process) -> None:
    with contextlib.suppress(ProcessLookupError):
        child.kill()  # SIGKILL
    await asyncio.wait_for(child.wait(), STEP_S)


async def crash_and_recover(tmp_path: Path, lane: Lane, mode: str) -> tuple[list[str], Any]:
    keys = embedded(tmp_path, **lane.keys)  # checks the keys parse before a child uses them
    assert keys.awaits.transport in ("kafka", "sqs")
    state = {"tpf.state-dir": str(tmp_path / "state")}
    (tmp_path / "keys.json").write_text(json.dumps(lane.keys | state))
    responder = asyncio.create_task(lane.responder())
    try:
        first = await spawn(mode, str(tmp_path), str(COUNT))
        try:
            lines = await until_ready(first)
        finally:
            await kill(first)
        second = await spawn("recover", str(tmp_path))
        out, err = await asyncio.wait_for(second.communicate(), STEP_S)
        assert second.returncode == 0, err.decode()[-4000:]
    finally:
        responder.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await responder
    summary = json.loads(out.decode().strip().splitlines()[-1])
    accepted = {r.split()[0] for r in (tmp_path / "accepted.txt").read_text().splitlines()}
    assert set(summary["executions"]) == accepted and len(accepted) == COUNT
    for eid, row in summary["executions"].items():
        assert row["status"] == "SUCCEEDED", (eid, row)
        assert row["outcome"] == row["expected"], (eid, row)
    assert_committed_once(tmp_path / "commits.log")
    return lines, summary


def assert_committed_once(log: Path) -> None:
    commits: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for raw in log.read_text().splitlines():
        entry = json.loads(raw)
        commits[entry["id"]].append((entry["v"], entry["s"]))
    assert commits
    for eid, history in commits.items():
        versions = [v for v, _ in history]
        assert versions == sorted(set(versions)), f"{eid} committed a version twice: {history}"
        statuses = [s for _, s in history]
        assert statuses.count("WAITING_EXTERNAL") == 1, history
        assert statuses.count("SUCCEEDED") == 1, history


async def test_killed_between_park_and_publish_redispatches(tmp_path: Path, lane: Lane) -> None:
    lines, summary = await crash_and_recover(tmp_path, lane, "park")
    # At the kill every interaction was parked in the outbox and none had been published.
    assert lines == [f"PARKED {COUNT} CREATED"], lines
    assert summary["published"] == COUNT  # the second coordinator's outbox sweep sent them
    assert summary["outcomes"].get("admitted") == COUNT, summary


async def test_killed_between_consume_and_apply_loses_nothing(tmp_path: Path, lane: Lane) -> None:
    _, summary = await crash_and_recover(tmp_path, lane, "consume")
    # The first child applied nothing; every completion, including the ones it had consumed,
    # was delivered again and admitted by the second.
    assert summary["outcomes"].get("admitted") == COUNT, summary
