"""The first hour, as a new user meets it: the installed ``tpf`` script run from the user's
project directory (no ``PYTHONPATH``), ``tpf dev`` printing a working setup, and ``tpf serve``
saying when its API is off."""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from demos.restaurant_approval.server import free_port

TPF = str(Path(sys.executable).parent / "tpf")
PIPELINE = """\
from __future__ import annotations

import msgspec

from tpf.authoring.pipeline import Pipeline


class Name(msgspec.Struct):
    name: str


class Greeting(msgspec.Struct):
    text: str


class Approval(msgspec.Struct):
    approved: bool


pipeline = Pipeline("org.example.hello")


@pipeline.step("Greet")
def greet(person: Name) -> Greeting:
    return Greeting(text=f"hello {person.name}")


pipeline.await_step("Approve", step_id="approve", output=Approval, timeout="PT30M")


@pipeline.step("Finish")
def finish(answer: Approval) -> Greeting:
    return Greeting(text="approved" if answer.approved else "declined")
"""


def user_env(**extra: str) -> dict[str, str]:
    """The environment of a user's shell: no PYTHONPATH and no tpf settings of ours."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH" and not k.startswith("TPF_")}
    return {**env, **extra}


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A user's project directory holding their pipeline module, and nothing of ours."""
    (tmp_path / "hello_pipeline.py").write_text(PIPELINE)
    return tmp_path


@dataclass
class Running:
    process: subprocess.Popen[str]
    out: Path
    err: Path

    def wait_for(self, text: str, timeout_s: float = 60.0) -> str:
        """stdout once it contains ``text`` (the process announces readiness there)."""
        deadline = time.monotonic() + timeout_s
        while text not in (out := self.out.read_text()):
            if self.process.poll() is not None:
                raise AssertionError(f"exited {self.process.returncode}:\n{out}\n{self.stderr}")
            if time.monotonic() > deadline:
                raise AssertionError(f"{text!r} not printed in {timeout_s}s:\n{out}")
            time.sleep(0.05)  # a child process's output has no event to wait on
        return out

    @property
    def stderr(self) -> str:
        return self.err.read_text()

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=30)


@pytest.fixture
def start(project: Path) -> Iterator[type[Running]]:
    started: list[Running] = []

    def run(*args: str, env: dict[str, str] | None = None) -> Running:
        n = len(started)
        out, err = project / f"out-{n}.txt", project / f"err-{n}.txt"
        with out.open("w") as stdout, err.open("w") as stderr:
            process = subprocess.Popen(
                [TPF, *args], cwd=project, env=env or user_env(), stdout=stdout, stderr=stderr,
                text=True,
            )  # fmt: skip
        running = Running(process, out, err)
        started.append(running)
        return running

    yield run  # type: ignore[misc]
    for running in started:
        if running.process.poll() is None:
            running.process.kill()
            running.process.wait(timeout=30)


def tpf(project: Path, args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [TPF, *args], cwd=project, env=env, capture_output=True, text=True, timeout=60
    )


def exports_of(banner: str) -> dict[str, str]:
    found: dict[str, str] = {}
    for line in banner.splitlines():
        if line.startswith("export "):
            [assignment] = shlex.split(line.removeprefix("export "))
            name, _, value = assignment.partition("=")
            found[name] = value
    return found


def test_release_build_imports_the_module_from_the_working_directory(project: Path) -> None:
    done = tpf(
        project,
        ["release", "build", "--pipeline", "hello_pipeline:pipeline", "--output", "out"],
        user_env(),
    )
    assert done.returncode == 0, done.stderr
    assert Path(done.stdout.strip()) == project / "out" / "pipeline-release.json"


def test_tpf_dev_prints_exports_and_a_first_submit_that_works(project: Path, start) -> None:  # type: ignore[no-untyped-def]
    port = free_port()
    args = ["dev", "--pipeline", "hello_pipeline:pipeline", "--port", str(port), "--tenant", "acme"]
    dev = start(*args, "--state-dir", "state")
    banner = dev.wait_for("Ctrl-C stops it")
    exports = exports_of(banner)
    assert exports["TPF_BASE_URL"] == f"http://127.0.0.1:{port}"
    assert exports["TPF_TENANT"] == "acme"
    assert exports["TPF_CONTROL_PLANE_TOKEN"] and exports["TPF_ADMIN_TOKEN"]
    [submit] = [line for line in banner.splitlines() if line.startswith("tpf executions submit")]
    assert '--input \'{"name":"example"}\'' in submit

    # The printed lines, pasted into another shell, just work.
    shell = user_env(**exports)
    done = tpf(project, shlex.split(submit)[1:], shell)
    assert done.returncode == 0, done.stderr
    assert "accepted at 20" in done.stdout  # an ISO-8601 time
    execution_id = done.stdout.split()[1]
    parked = tpf(project, ["executions", "get", execution_id, "--wait-ms", "20000"], shell)
    assert "WAITING_EXTERNAL" in parked.stdout, (parked.stdout, parked.stderr)
    pending = tpf(project, ["interactions", "pending"], shell)
    assert pending.returncode == 0, pending.stderr
    assert '  request: {"text":"hello example"}' in pending.stdout
    assert "deadline=20" in pending.stdout
    workers = tpf(project, ["workers", "list", "--pipeline-id", "org.example.hello"], shell)
    assert "HEALTHY protocol=local" in workers.stdout, workers.stdout

    # Without the token the 401 says where the CLI takes it from.
    no_token = {k: v for k, v in shell.items() if k != "TPF_CONTROL_PLANE_TOKEN"}
    refused = tpf(project, shlex.split(submit)[1:], no_token)
    assert refused.returncode == 1
    assert "HTTP 401" in refused.stderr and "TPF_CONTROL_PLANE_TOKEN" in refused.stderr
    assert dev.stop() == 0
    assert "tpf dev: stopped" in dev.out.read_text()

    # A restart on the same state re-registers idempotently and keeps the printed tokens.
    again = start(*args, "--state-dir", "state")
    assert exports_of(again.wait_for("Ctrl-C stops it")) == exports
    assert again.stop() == 0


def test_tpf_dev_without_a_pipeline_is_a_usage_error(project: Path) -> None:
    done = tpf(project, ["dev"], user_env())
    assert done.returncode == 2
    assert "--pipeline MODULE:ATTR is required" in done.stderr and "tpf dev aws" in done.stderr


def test_serve_with_both_surfaces_off_warns_every_route_404s(project: Path, start) -> None:  # type: ignore[no-untyped-def]
    serve = start(
        "serve", "--pipeline", "hello_pipeline:pipeline", "--port", str(free_port()),
        env=user_env(TPF_STATE_DIR=str(project / "state")),
    )  # fmt: skip
    serve.wait_for("tpf serve: listening on")
    assert serve.stop() == 0
    [warning] = [line for line in serve.stderr.splitlines() if "WARNING" in line]
    assert "every /tpf/ API route will answer 404" in warning
    assert "pipeline.orchestrator.control-plane.enabled" in warning
    assert "pipeline.orchestrator.admin.enabled" in warning
