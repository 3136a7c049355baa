"""SIGKILL a coordinator in the middle of an expanded execution's items, restart, finish.

The child answers items continuously, so the kill lands anywhere between a dispatch, an
interaction's completion and its item's output commit; the second coordinator on the same
SQLite files takes the lease over and continues from the stored items. Every item's output is
in the aggregate exactly once, in item order, with the answer it was given.
"""

from __future__ import annotations

import json
import signal
import subprocess
from pathlib import Path

from tests.crash.test_crash_survival import spawn as crash_child

COUNT = 60


def spawn(*args: str) -> subprocess.Popen[str]:
    return crash_child(*args, module="tests.crash.stream_child")


def test_sigkill_mid_stream_loses_and_doubles_no_item(tmp_path: Path) -> None:
    first = spawn("run", str(tmp_path), str(COUNT))
    try:
        assert first.stdout is not None
        line = first.stdout.readline()  # blocks until READY (or EOF if the child died)
        assert line.strip() == "READY", first.stderr.read() if first.stderr else line
        first.send_signal(signal.SIGKILL)
    finally:
        first.kill()
        first.wait(timeout=10)

    second = spawn("recover", str(tmp_path))
    out, err = second.communicate(timeout=120)
    assert second.returncode == 0, err
    summary = json.loads(out.strip().splitlines()[-1])
    assert summary["status"] == "SUCCEEDED", summary
    assert summary["items"] == COUNT
    expected = [f"{n}:{'no' if n % 4 == 0 else 'ok'}" for n in range(COUNT)]
    assert summary["result"] == {"outcomes": expected}
