"""Several ``tpf serve`` processes sharing one moto server: the HA shape of the recipe.

:func:`ha_properties` writes a ``.properties`` file in the recipe's style (DynamoDB state, SQS
work queue and DLQ, Dynamo release registry and worker lifecycle, S3 artifacts, strict startup,
``CLIENT_KEY_REQUIRED``, control plane and admin behind ``env:`` token references) with every
endpoint overridden to the local moto server and ``sqs.local-loopback=false`` (several
coordinators share the queue). :func:`bootstrap` runs ``tpf bootstrap aws`` on it, and
:class:`Node` runs one ``tpf serve`` process with its log in a file.

Every wait here is a poll of a subprocess's REST API with a deadline (there is no other
channel to a child process), or a ``?waitMs=`` long poll.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.aws import FAKE_CREDENTIALS, REGION
from tests.recipe import WORKER_SECRET_ENV
from tpf.client.rest import ApiError, RestClient

ROOT = Path(__file__).resolve().parents[2]
ACCOUNT = "123456789012"  # the account moto serves
TENANT = "restaurant-demo"
CONTROL_TOKEN = "ha-control-plane-token"
ADMIN_TOKEN = "ha-admin-token"
RESTAURANT = "demos.restaurant_approval:pipeline"
SLOW = "tests.ha.slow_pipeline:pipeline"
P = "pipeline.orchestrator."


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def endpoint_overrides(endpoint: str) -> str:
    """The only lines a local endpoint needs on top of an AWS configuration."""
    return (
        f"{P}dynamo.endpoint-override={endpoint}\n"
        f"{P}sqs.endpoint-override={endpoint}\n"
        f"{P}releases.storage.s3.endpoint-override={endpoint}\n"
        f"{P}releases.storage.s3.path-style-access=true\n"
    )


def ha_properties(
    endpoint: str,
    *,
    lease_ms: int = 30_000,
    sweep_interval: str = "PT30S",
    max_retries: int = 3,
    extra: Mapping[str, str] | None = None,
) -> str:
    """The recipe's durable coordinator configuration, on moto, for several coordinators."""
    lines = {
        P + "mode": "QUEUE_ASYNC",
        P + "strict-startup": "true",
        P + "idempotency-policy": "CLIENT_KEY_REQUIRED",
        P + "execution-ttl-days": "7",
        P + "lease-ms": str(lease_ms),
        P + "max-retries": str(max_retries),
        P + "retry-delay": "PT1S",
        P + "retry-multiplier": "2.0",
        P + "sweep-interval": sweep_interval,
        P + "sweep-limit": "100",
        P + "state-provider": "dynamo",
        P + "dispatcher-provider": "sqs",
        P + "dlq-provider": "sqs",
        P + "queue-url": f"{endpoint}/{ACCOUNT}/tpf-work",
        P + "dlq-url": f"{endpoint}/{ACCOUNT}/tpf-execution-dlq",
        P + "dynamo.region": REGION,
        P + "sqs.region": REGION,
        P + "sqs.local-loopback": "false",
        P + "control-plane.enabled": "true",
        P + "control-plane.admin-token-ref": "env:TPF_CONTROL_PLANE_TOKEN",
        P + "admin.enabled": "true",
        P + "admin.admin-token-ref": "env:TPF_ADMIN_TOKEN",
        P + "releases.registry.provider": "dynamo",
        P + "releases.storage.provider": "s3",
        P + "releases.storage.s3.bucket": "tpf-release-artifacts",
        P + "releases.storage.s3.prefix": "tpf/releases",
        P + "releases.storage.s3.region": REGION,
        P + "worker.lifecycle.provider": "dynamo",
        P + "worker.lifecycle.stale-after": "PT2M",
        "tpf.dynamo.shards": "4",  # fewer index partitions to query: less load on moto
        **(extra or {}),
    }
    body = "".join(f"{key}={value}\n" for key, value in lines.items())
    return body + endpoint_overrides(endpoint)


def child_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of a ``tpf`` child: no inherited TPF/orchestrator configuration, fake AWS
    credentials, the tokens the configuration refers to, and the repository on the path."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AWS_", "TPF_", "PIPELINE_ORCHESTRATOR_"))
    }
    env.update(FAKE_CREDENTIALS)
    env.update(
        {
            "PYTHONPATH": str(ROOT),
            "TPF_CONTROL_PLANE_TOKEN": CONTROL_TOKEN,
            "TPF_ADMIN_TOKEN": ADMIN_TOKEN,
            **WORKER_SECRET_ENV,  # the recipe's REST worker lines refer to it
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.update(extra or {})
    return env


def tpf(*args: str) -> list[str]:
    return [sys.executable, "-m", "tpf.cli.main", *args]


def bootstrap(config: Path, endpoint: str) -> subprocess.CompletedProcess[str]:
    """``tpf bootstrap aws --endpoint-url URL --config FILE``; fails the test on error."""
    done = subprocess.run(
        tpf("bootstrap", "aws", "--endpoint-url", endpoint, "--config", str(config)),
        cwd=ROOT,
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, f"bootstrap failed:\n{done.stdout}\n{done.stderr}"
    return done


@dataclass
class Node:
    """One ``tpf serve`` process."""

    name: str
    config: Path
    log_path: Path
    pipelines: tuple[str, ...] = ()
    port: int = field(default_factory=free_port)
    extra_env: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen[str] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def client(self, timeout_s: float = 60.0) -> RestClient:
        return RestClient(
            self.base_url,
            TENANT,
            control_plane_token=CONTROL_TOKEN,
            admin_token=ADMIN_TOKEN,
            timeout_s=timeout_s,
        )

    def launch(self) -> None:
        args = ["serve", "--config", str(self.config), "--port", str(self.port)]
        for ref in self.pipelines:
            args += ["--pipeline", ref]
        log = open(self.log_path, "w")  # noqa: SIM115 - the child writes it until it exits
        try:
            self.process = subprocess.Popen(
                tpf(*args),
                cwd=ROOT,
                env=child_env(self.extra_env),
                stdout=log,
                stderr=subprocess.STDOUT,
                text=True,
            )
        finally:
            log.close()

    def wait_ready(self, timeout_s: float = 60.0) -> None:
        assert self.process is not None
        client = self.client(timeout_s=5.0)
        deadline = time.monotonic() + timeout_s
        while not client.ready():
            if self.process.poll() is not None:
                raise AssertionError(
                    f"{self.name} exited with {self.process.returncode}:\n{self.log()}"
                )
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.name} not ready after {timeout_s}s:\n{self.log()}")
            time.sleep(0.05)  # polling a starting process's health is the only channel

    def log(self) -> str:
        return self.log_path.read_text() if self.log_path.exists() else ""

    def kill(self) -> None:
        """SIGKILL: no chance to clean up."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)


def start_nodes(
    count: int, config: Path, log_dir: Path, pipelines: Iterable[str] = (RESTAURANT,)
) -> list[Node]:
    """Launch ``count`` coordinators at once, then wait until each answers ready."""
    refs = tuple(pipelines)
    nodes = [
        Node(f"coordinator-{i + 1}", config, log_dir / f"coordinator-{i + 1}.log", refs)
        for i in range(count)
    ]
    try:
        for node in nodes:
            node.launch()
        for node in nodes:
            node.wait_ready()
    except BaseException:
        stop_nodes(nodes)
        raise
    return nodes


def stop_nodes(nodes: Iterable[Node]) -> None:
    for node in nodes:
        node.stop()


def poll(fetch: Callable[[], Any], done: Callable[[Any], bool], timeout_s: float, what: str) -> Any:
    """``fetch()`` until ``done(answer)``, at most ``timeout_s`` (short sleeps between reads)."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            answer = fetch()
        except ApiError as exc:
            if exc.status != 0:
                raise
            answer = None  # a node went away mid-request: try again
        if answer is not None and done(answer):
            return answer
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s}s waiting for {what}: {answer}")
        time.sleep(0.05)  # the subprocesses' REST API is the only channel to them
