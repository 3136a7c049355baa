"""Fixtures for the worker protocols over real sockets on 127.0.0.1: a fake handler standing in
for the envelope codec, and gRPC worker servers started on free ports and stopped after."""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import grpc
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.transports.workers.sqs_worker_kit import create_queue
from tpf.aws.clients import AwsClients
from tpf.core.clock import FakeClock
from tpf.transports.workers.remote.grpc_server import start_grpc_worker_server
from tpf.transports.workers.remote.nonces import MemoryNonceGuard
from tpf.transports.workers.remote.signing import Verifier, parse_instant

SECRET = "worker-secret"
TS = "2026-01-01T00:00:00Z"
NONCE = "00000000-0000-0000-0000-000000000001"
BODY = b'{"tenantId":"tenant-1"}'


class FakeHandler:
    """Echoes the command into the result, or fails / blocks as a test sets it up."""

    def __init__(self) -> None:
        self.commands: list[bytes] = []
        self.providers: list[str] = []
        self.fail: Exception | None = None
        self.result: bytes | None = None
        self.hold: asyncio.Event | None = None  # execute waits on it (tests never set it)
        self.entered = asyncio.Event()
        self.cancelled = asyncio.Event()

    async def execute(self, command_envelope: bytes) -> bytes:
        self.commands.append(command_envelope)
        if self.fail is not None:
            raise self.fail
        if self.hold is not None:
            self.entered.set()
            try:
                await self.hold.wait()
            except asyncio.CancelledError:
                self.cancelled.set()
                raise
        if self.result is not None:
            return self.result
        return json.dumps({"outcome": "COMPLETED", "echo": command_envelope.decode()}).encode()

    async def capabilities(self, provider_name: str) -> bytes:
        self.providers.append(provider_name)
        if self.fail is not None:
            raise self.fail
        return json.dumps({"protocolVersion": "1", "providerName": provider_name}).encode()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(parse_instant(TS))


@pytest.fixture
def handler() -> FakeHandler:
    return FakeHandler()


@pytest.fixture
def verifier(clock: FakeClock) -> Verifier:
    return Verifier(SECRET, clock, MemoryNonceGuard(clock))


StartWorker = Callable[..., Awaitable[int]]


@pytest.fixture
async def grpc_worker(handler: FakeHandler, verifier: Verifier) -> AsyncIterator[StartWorker]:
    """``await grpc_worker(**start_grpc_worker_server kwargs)`` -> the bound port; the handler
    and verifier default to the fixtures'."""
    servers: list[grpc.aio.Server] = []

    async def start(**kwargs: Any) -> int:
        chosen_handler = kwargs.pop("handler", handler)
        chosen_verifier = kwargs.pop("verifier", verifier)
        server, port = await start_grpc_worker_server(chosen_handler, chosen_verifier, **kwargs)
        servers.append(server)
        return port

    yield start
    for server in servers:
        await server.stop(None)


def write_self_signed(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate for localhost / 127.0.0.1 and its key, as PEM files."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)  # certificate validity is checked against the real clock
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "worker.crt", directory / "worker.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@pytest.fixture
async def worker_queues(aws: AwsClients) -> tuple[str, str]:
    """The request and response queues, visibility timeout 30 s (= the default request
    timeout)."""
    return (
        await create_queue(aws, "tpf-worker-requests"),
        await create_queue(aws, "tpf-worker-responses"),
    )
