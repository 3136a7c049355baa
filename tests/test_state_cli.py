"""``tpf state backup`` and ``tpf state check`` (issue 8, break 7): a consistent backup of a live
``tpf serve`` while it writes, a check that passes a sound database and fails a corrupted one,
and a clean stop that leaves everything in ``tpf.sqlite3`` itself."""

from __future__ import annotations

import asyncio
import os
import shutil
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from demos.restaurant_approval import flows
from demos.restaurant_approval.server import ROOT, DemoServer, free_port
from tests.stores.test_execution_store_contract import T0
from tests.stores.test_execution_store_contract import make as make_execution
from tpf.cli.main import main
from tpf.stores.sqlite import SqliteDatabase, SqliteExecutionStore


def tpf_state(state_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``tpf state ...`` in its own process, configured by ``TPF_STATE_DIR`` as an operator's."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TPF_STATE_DIR": str(state_dir)}
    return subprocess.run(
        [sys.executable, "-m", "tpf.cli.main", "state", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def executions_in(path: Path) -> set[str]:
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        return {row[0] for row in conn.execute("SELECT execution_id FROM executions")}
    finally:
        conn.close()


def submit(demo: DemoServer) -> str:
    return flows.submit_order(demo.client(), "Ada Lovelace", "Cafe TPF", "Margherita Pizza")


def test_backup_and_check_a_live_server_then_stop_it_cleanly(tmp_path: Path) -> None:
    demo = DemoServer(tmp_path / "state", free_port())
    demo.start()
    try:
        flows.prepare_release(demo.client(), tmp_path / "build")
        before = {submit(demo) for _ in range(5)}
        # Keep the coordinator writing (submits, and the transitions they start) throughout.
        stop, during = threading.Event(), set[str]()

        def keep_submitting() -> None:
            while not stop.is_set():
                during.add(submit(demo))

        writer = threading.Thread(target=keep_submitting)
        writer.start()
        try:
            backup = tmp_path / "backups" / "tpf-backup.sqlite3"
            backup.parent.mkdir()
            done = tpf_state(demo.state_dir, "backup", str(backup))
            checked = tpf_state(demo.state_dir, "check")
        finally:
            stop.set()
            writer.join(timeout=60)
        assert done.returncode == 0, done.stderr
        assert checked.returncode == 0 and checked.stdout == "ok\n", checked
        # The copy is one self-contained, sound file holding every execution accepted before.
        assert sorted(p.name for p in backup.parent.iterdir()) == [backup.name]
        conn = sqlite3.connect(backup)
        try:
            assert conn.execute("PRAGMA journal_mode").fetchone() == ("delete",)
            assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        finally:
            conn.close()
        backed_up = executions_in(backup)
        assert before <= backed_up <= before | during
        verified = tpf_state(demo.state_dir, "check", "--full", "--database", str(backup))
        assert verified.returncode == 0 and verified.stdout == "ok\n", verified
    finally:
        demo.stop()
    # After a clean stop the main file alone holds everything: copying it is a backup too.
    copy = tmp_path / "copied" / "tpf.sqlite3"
    copy.parent.mkdir()
    shutil.copyfile(demo.state_dir / "tpf.sqlite3", copy)
    assert executions_in(copy) == before | during


def test_check_fails_a_corrupted_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    state = tmp_path / "state"
    _make_database(state / "tpf.sqlite3", 50)
    monkeypatch.setenv("TPF_STATE_DIR", str(state))
    assert main(["state", "check"]) == 0
    assert capsys.readouterr().out == "ok\n"

    corrupted = tmp_path / "corrupted.sqlite3"
    shutil.copyfile(state / "tpf.sqlite3", corrupted)
    _overwrite_cell_pointers(corrupted, "executions")
    assert main(["state", "check", "--database", str(corrupted)]) == 1
    out = capsys.readouterr().out
    assert out.strip() and "ok" not in out.split(), out  # the problems, as SQLite words them
    # Backing up a corrupted database fails and writes nothing.
    target = tmp_path / "out" / "backup.sqlite3"
    target.parent.mkdir()
    assert main(["state", "backup", str(target), "--database", str(corrupted)]) == 1
    assert list(target.parent.iterdir()) == []

    garbage = tmp_path / "garbage.sqlite3"
    garbage.write_bytes(b"not a database at all" * 200)
    assert main(["state", "check", "--database", str(garbage)]) == 1
    assert "not a database" in capsys.readouterr().out


def test_state_commands_refuse_what_they_cannot_do(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("TPF_STATE_DIR", str(tmp_path / "empty"))
    assert main(["state", "check"]) == 2
    assert "no SQLite database at" in capsys.readouterr().err
    state = tmp_path / "state"
    _make_database(state / "tpf.sqlite3", 1)
    monkeypatch.setenv("TPF_STATE_DIR", str(state))
    assert main(["state", "backup", str(tmp_path)]) == 2  # a directory, not a file
    assert "is a directory" in capsys.readouterr().err
    assert main(["state", "backup", str(state / "tpf.sqlite3")]) == 2
    assert "is the database itself" in capsys.readouterr().err
    monkeypatch.setenv("TPF_STATE_PROVIDER", "memory")
    monkeypatch.setenv("TPF_WORKER_LIFECYCLE_PROVIDER", "memory")
    assert main(["state", "check"]) == 2
    assert "no SQLite database to operate on" in capsys.readouterr().err
    # An existing backup is replaced by the new one, atomically.
    monkeypatch.delenv("TPF_STATE_PROVIDER")
    monkeypatch.delenv("TPF_WORKER_LIFECYCLE_PROVIDER")
    target = tmp_path / "backup.sqlite3"
    target.write_bytes(b"last week's backup")
    assert main(["state", "backup", str(target)]) == 0
    assert executions_in(target) == {"e0"}


def _make_database(path: Path, count: int) -> None:
    async def build() -> None:
        db = await SqliteDatabase.open(str(path))
        executions = SqliteExecutionStore(db)
        for i in range(count):
            await executions.create_or_get(make_execution(f"e{i}", f"k{i}"), T0)
        await db.close()

    asyncio.run(build())


def _overwrite_cell_pointers(path: Path, table: str) -> None:
    """Corrupt the table's root page: its cell pointers now point outside the page."""
    conn = sqlite3.connect(path)
    try:
        (page_size,) = conn.execute("PRAGMA page_size").fetchone()
        query = "SELECT rootpage FROM sqlite_master WHERE name = ?"
        (root,) = conn.execute(query, (table,)).fetchone()
    finally:
        conn.close()
    with path.open("r+b") as handle:
        handle.seek((root - 1) * page_size + 12)  # past the b-tree page header
        handle.write(b"\x5a" * 64)
