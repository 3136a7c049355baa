"""Start and stop a ``tpf serve`` process for the demos, as an operator would from a shell.

The server runs the restaurant pipeline as its local worker on the SQLite default, with the
control plane and admin API enabled and the original demo's tokens. Its log goes to a file so
the incident demo can look for the DLQ line, as the original's script greps its log.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from tpf.client import RestClient

TENANT = "restaurant-demo"
TOKEN = "restaurant-control-plane-admin-token"  # the original demo uses one token for both
PIPELINE_REF = "demos.restaurant_approval:pipeline"
ROOT = Path(__file__).resolve().parents[2]


def tpf_command(*args: str) -> list[str]:
    """Run the ``tpf`` of this interpreter's environment (works without activating a venv)."""
    return [sys.executable, "-m", "tpf.cli", *args]


@dataclass
class DemoServer:
    state_dir: Path
    port: int
    extra_env: dict[str, str] = field(default_factory=dict)
    # What ``--pipeline`` hosts (repeatable: tests host two versions of one pipeline).
    pipelines: tuple[str, ...] = (PIPELINE_REF,)
    extra_args: tuple[str, ...] = ()  # more ``tpf serve`` flags (e.g. ``--log-format json``)
    process: subprocess.Popen[str] | None = None

    @property
    def log_path(self) -> Path:
        return self.state_dir / "coordinator.log"

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def client(self) -> RestClient:
        return RestClient(self.base_url, TENANT, control_plane_token=TOKEN, admin_token=TOKEN)

    def environment(self) -> dict[str, str]:
        """The environment the server runs with."""
        return {
            **os.environ,
            "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
            "TPF_STATE_DIR": str(self.state_dir),
            "PIPELINE_ORCHESTRATOR_CONTROL_PLANE_ENABLED": "true",
            "PIPELINE_ORCHESTRATOR_CONTROL_PLANE_ADMIN_TOKEN": TOKEN,
            "PIPELINE_ORCHESTRATOR_ADMIN_ENABLED": "true",
            "PIPELINE_ORCHESTRATOR_ADMIN_ADMIN_TOKEN": TOKEN,
            "PIPELINE_ORCHESTRATOR_RETRY_DELAY": "PT1S",
            **self.extra_env,
        }

    def start(self, timeout_s: float = 30.0) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        env = self.environment()
        log = open(self.log_path, "a")  # noqa: SIM115 - the server process writes it until stop
        self.process = subprocess.Popen(
            tpf_command(
                "serve",
                *(arg for ref in self.pipelines for arg in ("--pipeline", ref)),
                "--port",
                str(self.port),
                *self.extra_args,
            ),
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            text=True,
        )
        log.close()
        client = self.client()
        deadline = time.monotonic() + timeout_s
        while not client.ready():
            if self.process.poll() is not None:
                raise SystemExit(f"tpf serve exited early; see {self.log_path}:\n{self.log()}")
            if time.monotonic() > deadline:
                self.kill()
                raise SystemExit(f"tpf serve not ready after {timeout_s}s; see {self.log_path}")
            time.sleep(0.05)  # polling a starting process's health is the only way to know

    def log(self) -> str:
        return self.log_path.read_text() if self.log_path.exists() else ""

    def stop(self) -> None:
        """Graceful stop (SIGTERM), as ``Ctrl-C`` would."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(timeout=30)

    def kill(self) -> None:
        """``kill -9``: no chance to clean up."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=30)


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
