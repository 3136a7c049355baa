"""The child processes of the HA demos, started and stopped as an operator would from a shell.

A :class:`Child` is one ``tpf`` process (coordinator, worker, bootstrap) with its output in a
log file; :class:`Children` remembers every one started and stops them all (SIGTERM, then
SIGKILL) however the demo ends: a failed assertion, Ctrl-C or a SIGTERM to the demo itself
(:func:`exit_on_sigterm` turns it into ``SystemExit`` so the ``finally`` blocks run).

Every wait here polls a child's health endpoint with a deadline: from outside a process there
is no other channel to learn that it is listening.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

ROOT = Path(__file__).resolve().parents[3]
# Local endpoints accept any credentials, but botocore refuses to sign without some.
FAKE_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}


class DemoFailure(Exception):
    """The demo cannot go on; the message says why (and which log to read)."""


def tpf(*args: str) -> list[str]:
    """The ``tpf`` of this interpreter's environment (works without activating a venv)."""
    return [sys.executable, "-m", "tpf.cli", *args]


def child_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """A child's environment: none of the caller's AWS/TPF/orchestrator settings (the demo's
    files say everything), fake AWS credentials, the repository on the path, and ``extra``."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AWS_", "TPF_", "PIPELINE_ORCHESTRATOR_"))
    }
    env.update(FAKE_CREDENTIALS)
    env["PYTHONPATH"] = str(ROOT)
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra or {})
    return env


def http_ok(url: str, timeout_s: float = 2.0) -> bool:
    """Whether ``GET url`` answers 2xx now."""
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as answer:
            return 200 <= int(answer.status) < 300
    except (urllib.error.URLError, OSError):
        return False


@dataclass
class Child:
    name: str
    command: list[str]
    log_path: Path
    env: dict[str, str] = field(default_factory=child_env)
    process: subprocess.Popen[str] | None = None

    @property
    def pid(self) -> int:
        assert self.process is not None, f"{self.name} was never started"
        return self.process.pid

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self) -> None:
        if self.alive:
            raise DemoFailure(f"{self.name} is already running")
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "a")  # noqa: SIM115 - the child writes it until it exits
        try:
            with SIGTERM.deferred():  # the child is recorded before a SIGTERM exits the demo
                self.process = subprocess.Popen(
                    self.command,
                    cwd=ROOT,
                    env=self.env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    text=True,
                )
        finally:
            log.close()

    def wait_healthy(self, url: str, timeout_s: float = 60.0) -> None:
        """Until ``url`` answers 2xx; :class:`DemoFailure` if the child exits or time runs out."""
        deadline = time.monotonic() + timeout_s
        while not http_ok(url):
            if not self.alive:
                code = None if self.process is None else self.process.returncode
                raise DemoFailure(f"{self.name} exited with {code}:\n{self.tail()}")
            if time.monotonic() > deadline:
                raise DemoFailure(f"{self.name} not ready after {timeout_s:.0f} s:\n{self.tail()}")
            time.sleep(0.05)  # polling a starting process's health is the only channel

    def log(self) -> str:
        return self.log_path.read_text() if self.log_path.exists() else ""

    def tail(self, lines: int = 30) -> str:
        return "\n".join(f"  | {line}" for line in self.log().splitlines()[-lines:])

    def kill(self) -> None:
        """SIGKILL: no chance to clean up (a crash, ``kill -9``, a node lost)."""
        if self.alive:
            assert self.process is not None
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=30)

    def stop(self, timeout_s: float = 30.0) -> int | None:
        """SIGTERM and wait (SIGKILL after ``timeout_s``); the exit status."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        return self.process.returncode


class Children:
    """Every child a demo started, stopped together (last started first) by :meth:`stop_all`."""

    def __init__(self) -> None:
        self._children: list[Child] = []

    def add(self, child: Child) -> Child:
        self._children.append(child)
        return child

    def stop_all(self) -> None:
        for child in reversed(self._children):
            try:
                child.stop(timeout_s=15.0)
            except Exception as exc:  # one stuck child must not keep the others running
                print(f"stopping {child.name} failed: {exc}", file=sys.stderr)


def run_tool(name: str, command: list[str], env: Mapping[str, str], timeout_s: float = 120) -> str:
    """Run a short ``tpf`` command to completion; its stdout, or :class:`DemoFailure` with
    its output when it fails."""
    with SIGTERM.deferred():  # a short tool ends before a SIGTERM exits the demo (no orphan)
        done = subprocess.run(
            command,
            cwd=ROOT,
            env=dict(env),
            capture_output=True,
            text=True,
            timeout=timeout_s,
        )
    if done.returncode != 0:
        raise DemoFailure(f"{name} failed ({done.returncode}):\n{done.stdout}{done.stderr}")
    return done.stdout


class _Sigterm:
    """A SIGTERM turned into ``SystemExit``, held back inside :meth:`deferred` blocks.

    Python runs the handler between any two bytecodes, including inside ``subprocess.Popen``
    after the fork: the ``SystemExit`` would then leave a child nobody recorded, which outlives
    the demo. Inside a deferred block the signal is noted and raised when the block ends."""

    def __init__(self) -> None:
        self.depth = 0
        self.pending: int | None = None

    def handle(self, signum: int, frame: FrameType | None) -> None:
        if self.depth:
            self.pending = signum
            return
        raise SystemExit(128 + signum)

    @contextlib.contextmanager
    def deferred(self) -> Iterator[None]:
        self.depth += 1
        try:
            yield
        finally:
            self.depth -= 1
        if not self.depth and self.pending is not None:
            signum, self.pending = self.pending, None
            raise SystemExit(128 + signum)


SIGTERM = _Sigterm()


def exit_on_sigterm() -> None:
    """A SIGTERM to the demo exits it through its ``finally`` blocks, stopping the children."""
    signal.signal(signal.SIGTERM, SIGTERM.handle)
