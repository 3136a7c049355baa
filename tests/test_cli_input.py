"""Operator-command input errors are one line and exit 2 (never a traceback); human output
prints times as ISO-8601 UTC and shows what a pending interaction asks."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tpf.cli.operator_output import fmt_pending, fmt_submit, fmt_worker, status_line

TPF = str(Path(sys.executable).parent / "tpf")
# Nothing listens here: every case must be refused before any request is sent.
UNREACHABLE = {"TPF_BASE_URL": "http://127.0.0.1:9", "TPF_TENANT": "t"}


def run(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [TPF, *args],
        cwd=cwd,
        env={**os.environ, **UNREACHABLE},
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["executions", "submit", "--pipeline-id", "p", "--input", "@missing.json"],
         "argument --input: cannot read missing.json: No such file or directory"),
        (["executions", "submit", "--pipeline-id", "p", "--input", "@."],
         "argument --input: cannot read .:"),
        (["executions", "submit", "--pipeline-id", "p", "--input", "{bad"],
         "argument --input: the value is not valid JSON"),
        (["interactions", "complete", "--interaction-id", "i", "--response", "@bad.json"],
         "argument --response: bad.json is not valid JSON"),
        (["interactions", "pending", "--limit", "-5"],
         "argument --limit: must be at least 1, got -5"),
        (["interactions", "pending", "--limit", "many"],
         "argument --limit: expected an integer, got 'many'"),
        (["executions", "get", "e", "--wait-ms", "-1"],
         "argument --wait-ms: must be at least 0, got -1"),
        (["workers", "register", "--pipeline-id", "p", "--worker-id", "w",
          "--contract-version", "c", "--release-version", "r", "--protocol", "pigeon"],
         "argument --protocol: invalid choice: 'pigeon'"),
        (["releases", "register", "--pipeline-id", "p", "--upload", "missing.json"],
         "missing.json"),
    ],
)  # fmt: skip
def test_bad_input_is_one_line_and_exit_2(tmp_path: Path, args: list[str], fragment: str) -> None:
    (tmp_path / "bad.json").write_text("{not json")
    done = run(args, tmp_path)
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert fragment in done.stderr


def test_protocol_is_case_insensitive(tmp_path: Path) -> None:
    done = run(
        ["workers", "register", "--pipeline-id", "p", "--worker-id", "w", "--contract-version",
         "c", "--release-version", "r", "--protocol", "LOCAL"],
        tmp_path,
    )  # fmt: skip
    assert done.returncode == 1  # accepted by the CLI; the (absent) server is unreachable
    assert "UNREACHABLE" in done.stderr


def test_human_output_prints_iso_times_and_the_request_payload() -> None:
    [line, request] = fmt_pending(
        [
            {
                "interactionId": "i-1",
                "executionId": "e-1",
                "stepId": "approve",
                "deadlineEpochMs": 1_767_225_600_000,
                "assignee": None,
                "group": "approvers",
                "requestPayload": {"orderId": "o-1", "amount": 5},
            }
        ]
    )
    assert "deadline=2026-01-01T00:00:00.000Z" in line and "group=approvers" in line
    assert request == '  request: {"orderId":"o-1","amount":5}'
    submitted = fmt_submit(
        {"executionId": "e", "duplicate": False, "statusUrl": "/s", "submittedAtEpochMs": 1500}
    )
    assert submitted[0] == "execution e accepted at 1970-01-01T00:00:01.500Z"
    worker = {"workerId": "w", "state": "HEALTHY", "protocol": "local", "releaseVersion": "r"}
    [beat] = fmt_worker({**worker, "lastHeartbeatAtEpochMs": 0})
    assert beat.endswith("lastHeartbeat=1970-01-01T00:00:00.000Z")


def test_the_status_line_shows_an_expanded_executions_items() -> None:
    status = {
        "executionId": "e-1",
        "status": "RUNNING",
        "stepIndex": 1,
        "attempt": 0,
        "version": 4,
        "items": {
            "total": 12,
            "completed": 5,
            "failed": 0,
            "pending": 7,
            "inFlight": 3,
            "byVariant": {"unapproved": 1, "approved": 4},
        },
    }
    assert status_line(status).splitlines()[1] == (
        "  items: 5 of 12 completed, 0 failed, 7 pending (3 open); approved 4, unapproved 1"
    )
    del status["items"]
    assert "items" not in status_line(status)  # a scalar execution's line is unchanged
