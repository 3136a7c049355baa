"""``tpf serve`` refuses state it cannot use, with one line naming it (issue 8, break 5).

A corrupted database and a read-only state directory used to start, report ready and then
answer 500s; now the real ``tpf serve`` exits 1 at startup with one line on stderr, no
traceback. The read-only directory is a tmpfs remounted read-only (the suite runs as root,
for whom a chmod refuses nothing).
"""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from demos.restaurant_approval.server import ROOT, DemoServer, free_port, tpf_command
from tests.stores.test_store_faults import corrupt_page, database_with_executions
from tests.tmpfs import mounted_tmpfs


def serve(state_dir: Path) -> subprocess.CompletedProcess[str]:
    env = DemoServer(state_dir, free_port()).environment()
    return subprocess.run(
        tpf_command("serve", "--port", str(free_port())),
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,  # it must exit at startup, not serve
    )


def refusal(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 1, (result.stdout, result.stderr)
    [line] = result.stderr.strip().splitlines()  # one line, no traceback
    return line


def test_serve_refuses_a_corrupted_database(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    database = state / "tpf.sqlite3"
    corrupt_page(database, asyncio.run(database_with_executions(database, 3)))
    line = refusal(serve(state))
    assert line.startswith(f"tpf serve: the SQLite database {database} cannot be used: "), line
    assert "malformed" in line and "restore a backup" in line


@pytest.fixture
def read_only_state(tmp_path: Path) -> Iterator[Path]:
    """A state directory holding a sound database, on a filesystem mounted read-only."""
    with mounted_tmpfs(tmp_path / "ro") as mount:
        yield mount


def test_serve_refuses_a_read_only_state_directory(read_only_state: Path) -> None:
    asyncio.run(database_with_executions(read_only_state / "tpf.sqlite3", 1))
    subprocess.run(["mount", "-o", "remount,ro", str(read_only_state)], check=True)
    line = refusal(serve(read_only_state))
    assert line == (
        f"tpf serve: state directory {read_only_state.resolve()} cannot be used: Read-only "
        f"file system (creating {read_only_state.resolve() / 'tpf.lock'}); it must be a "
        "writable directory"
    )
