"""The HA reference's topology on one machine: a local AWS, one coordinator, REST workers.

:func:`local_aws` runs ``tpf dev aws``'s moto server (:class:`tpf.dev.moto.AtomicMotoServer`) on
a free 127.0.0.1 port inside the demo process, so it goes away with the demo whatever happens.
:class:`HaStack` writes the coordinator's file from the recipe
(:func:`~demos.restaurant_approval.ha.recipe.coordinator_properties`), creates what it names
with ``tpf bootstrap aws``, runs ``tpf serve`` on it and ``tpf worker`` processes of the
restaurant pipeline, and builds, registers and activates releases through the admin API. The
tokens and the worker secret reach the children only as the environment variables the
recipe's ``env:`` references name.
"""

from __future__ import annotations

import contextlib
import logging
import re
import socket
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from demos.restaurant_approval.ha.processes import (
    Child,
    Children,
    DemoFailure,
    child_env,
    run_tool,
    tpf,
)
from demos.restaurant_approval.ha.recipe import (
    DEMO_CHANGES,
    coordinator_properties,
    worker_properties,
)
from demos.restaurant_approval.pipeline import PIPELINE_ID
from tpf.client import RestClient

TENANT = "restaurant-demo"
TOKEN = "restaurant-control-plane-admin-token"  # the original demo uses one token for both
WORKER_SECRET = "restaurant-transition-worker-secret"
PIPELINE_REF = "demos.restaurant_approval.pipeline:pipeline"


@dataclass(frozen=True)
class Identity:
    """Whose stack it is: the demo's tenant, pipeline, tokens and worker secret (the
    restaurant's by default; the csv-payments demo runs the same topology with its own)."""

    tenant: str = TENANT
    pipeline_id: str = PIPELINE_ID
    pipeline_ref: str = PIPELINE_REF
    token: str = TOKEN
    worker_secret: str = WORKER_SECRET

    def secrets_env(self) -> dict[str, str]:
        return {
            "TPF_CONTROL_PLANE_TOKEN": self.token,
            "TPF_ADMIN_TOKEN": self.token,
            "TPF_WORKER_SECRET": self.worker_secret,
        }


RESTAURANT = Identity()
SECRETS_ENV = RESTAURANT.secrets_env()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def local_aws() -> Iterator[str]:
    """``tpf dev aws``'s moto server on a free loopback port; yields its endpoint URL."""
    from tpf.dev.moto import AtomicMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no access line per AWS call
    server = AtomicMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        yield f"http://{host}:{port}"
    finally:
        server.stop()


# What ``tpf worker`` prints once the coordinator took its record.
REGISTERED = re.compile(r"tpf worker: registered (\S+) for tenant (\S+) \((\w+),")


@dataclass
class Worker(Child):
    """One ``tpf worker`` process: the restaurant pipeline behind the REST worker protocol.

    Its record's ``worker_id`` is the worker's own choice (its address and release: the same
    after a restart at the same address), learned from the line it prints on registering."""

    port: int = 0
    worker_id: str = ""
    tenant: str = field(default=TENANT)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def registered_id(self) -> str | None:
        """The worker id it registered for the demo's tenant, once it has."""
        for found in REGISTERED.finditer(self.log()):
            if found[2] == self.tenant:
                return found[1]
        return None


def worker_command(
    ref: str, port: int, config: Path, coordinator_url: str, tenant: str = TENANT
) -> list[str]:
    """``tpf worker`` hosting ``ref`` over REST on 127.0.0.1:``port``, registering itself with
    the coordinator for the demo's tenant."""
    return tpf(
        "worker",
        "--pipeline",
        ref,
        "--protocol",
        "rest",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--config",
        str(config),
        "--coordinator-url",
        coordinator_url,
        "--tenant",
        tenant,
        "--admin-token-ref",
        "env:TPF_ADMIN_TOKEN",
        "--log-level",
        "debug",  # its step.start lines name each transition it ran
    )


class HaStack:
    """One coordinator and its workers on a local AWS, state under ``state_dir``."""

    def __init__(
        self,
        state_dir: Path,
        endpoint: str,
        *,
        changes: Mapping[str, tuple[str, str]] | None = None,
        identity: Identity = RESTAURANT,
    ) -> None:
        """``changes``: more recipe values this stack changes, as ``{key: (value, why)}``."""
        self.state_dir = state_dir
        self.endpoint = endpoint
        self.identity = identity
        self.children = Children()
        self.env = child_env(identity.secrets_env())
        # The configured target: the port the first worker listens on.
        self.worker_port = free_port()
        # What differs from the recipe's block (besides the worker's address and the endpoints).
        self.changes = {**DEMO_CHANGES, **(changes or {})}
        values = {key: value for key, (value, _why) in self.changes.items()}
        self.config = state_dir / "coordinator.properties"
        self.config.write_text(
            coordinator_properties(endpoint, f"http://127.0.0.1:{self.worker_port}", values)
        )
        self.worker_config = state_dir / "worker.properties"
        self.worker_config.write_text(worker_properties())
        self.port = free_port()
        self.coordinator = self.children.add(
            Child(
                "coordinator",
                tpf("serve", "--config", str(self.config), "--port", str(self.port)),
                state_dir / "coordinator.log",
                env=self.env,
            )
        )
        self.workers: list[Worker] = []

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def client(self, timeout_s: float = 60.0) -> RestClient:
        who = self.identity
        return RestClient(
            self.base_url,
            who.tenant,
            control_plane_token=who.token,
            admin_token=who.token,
            timeout_s=timeout_s,
        )

    # ---------------------------------------------------------------------------- processes

    def bootstrap(self) -> list[str]:
        """``tpf bootstrap aws``: the tables, queues and bucket of the coordinator's file."""
        out = run_tool(
            "tpf bootstrap aws",
            tpf("bootstrap", "aws", "--endpoint-url", self.endpoint, "--config", str(self.config)),
            self.env,
        )
        return out.splitlines()

    def start_coordinator(self) -> None:
        self.coordinator.start()
        self.coordinator.wait_healthy(f"{self.base_url}/q/health/ready")

    def worker(
        self,
        name: str,
        ref: str | None = None,
        port: int | None = None,
        extra_env: Mapping[str, str] | None = None,
    ) -> Worker:
        """A worker process ``name`` (not started) hosting ``ref`` on ``port`` (default: the
        configured target's)."""
        port = port or self.worker_port
        ref = ref or self.identity.pipeline_ref
        tenant = self.identity.tenant
        command = worker_command(ref, port, self.worker_config, self.base_url, tenant)
        worker = Worker(
            name,
            command,
            self._log_path(name),
            env={**self.env, **(extra_env or {})},
            port=port,
            tenant=tenant,
        )
        self.children.add(worker)
        self.workers.append(worker)
        return worker

    def _log_path(self, name: str) -> Path:
        """A new log file per process (a replacement worker of the same name gets its own)."""
        path, n = self.state_dir / f"{name}.log", 1
        while path.exists() or any(w.log_path == path for w in self.workers):
            n += 1
            path = self.state_dir / f"{name}-{n}.log"
        return path

    def start_worker(self, worker: Worker, timeout_s: float = 60.0) -> dict[str, Any]:
        """Start ``worker``, wait until it serves and has registered, and its record is
        HEALTHY; the record."""
        worker.start()
        worker.wait_healthy(f"{worker.url}/q/health/ready", timeout_s)
        deadline = time.monotonic() + timeout_s
        while (worker_id := worker.registered_id()) is None:
            if not worker.alive or time.monotonic() > deadline:
                raise DemoFailure(f"{worker.name} did not register:\n{worker.tail()}")
            time.sleep(0.05)  # its log is the only channel to the worker's registration
        worker.worker_id = worker_id
        return self.wait_worker_state(worker, "HEALTHY", timeout_s)

    def wait_worker_state(
        self, worker: Worker, state: str, timeout_s: float = 30.0
    ) -> dict[str, Any]:
        """Until the coordinator lists ``worker``'s record in ``state``; the record."""
        client = self.client()
        deadline = time.monotonic() + timeout_s
        while True:
            records = {r["workerId"]: r for r in client.list_workers(self.identity.pipeline_id)}
            record = records.get(worker.worker_id)
            if record is not None and record["state"] == state:
                return dict(record)
            if time.monotonic() > deadline:
                raise DemoFailure(
                    f"worker {worker.worker_id} is {record and record['state']}, not {state}, "
                    f"after {timeout_s:.0f} s:\n{worker.tail()}"
                )
            time.sleep(0.1)  # the admin API is the only channel to the worker record

    # ---------------------------------------------------------------------------- releases

    def release(self, ref: str | None = None, label: str = "release") -> dict[str, Any]:
        """``tpf release build`` ``ref``, register and activate it; the active release."""
        ref = ref or self.identity.pipeline_ref
        pipeline_id = self.identity.pipeline_id
        out = self.state_dir / "build" / label
        descriptor = run_tool(
            "tpf release build",
            tpf("release", "build", "--pipeline", ref, "--output", str(out)),
            self.env,
        ).strip()
        client = self.client()
        registered = client.register_release(pipeline_id, descriptor)
        active: dict[str, Any] = client.activate_release(pipeline_id, registered["releaseVersion"])
        return active

    def stop_all(self) -> None:
        self.children.stop_all()

    def aws_summaries(self) -> list[str]:
        """The shutdown line each child logged with its AWS requests by operation."""
        children = [self.coordinator, *self.workers]
        return [
            f"{child.name}: {line.split('AWS requests by operation: ', 1)[1]}"
            for child in children
            for line in child.log().splitlines()
            if "AWS requests by operation: " in line
        ]

    def logs(self) -> str:
        """Where each child's log is (printed when a demo fails)."""
        children = [self.coordinator, *self.workers]
        return "\n".join(f"  {child.name}: {child.log_path}" for child in children)
