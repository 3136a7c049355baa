"""GrpcWorkerTransport against real gRPC servers on 127.0.0.1: round trips through the worker
server, each status code's failure category, the reply checks, deadlines and cancellation,
message limits, and TLS with a certificate made by the test."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc
import pytest

from tests.transports.workers.conftest import (
    BODY,
    SECRET,
    FakeHandler,
    StartWorker,
    write_self_signed,
)
from tpf.core.clock import FakeClock
from tpf.transports.workers.remote.contracts import (
    ENVELOPE_ENCODING,
    MalformedRequest,
    TransportFailure,
    WorkerTransport,
)
from tpf.transports.workers.remote.grpc import transition_worker_pb2 as pb
from tpf.transports.workers.remote.grpc import transition_worker_pb2_grpc as pb_grpc
from tpf.transports.workers.remote.grpc_client import GrpcWorkerTransport

WAIT_S = 10.0  # generous bound for events that should happen at once (CI has one busy core)


@pytest.fixture
async def transports() -> AsyncIterator[list[GrpcWorkerTransport]]:
    """Transports a test opens, closed after it."""
    opened: list[GrpcWorkerTransport] = []
    yield opened
    for transport in opened:
        await transport.aclose()


@pytest.fixture
def connect(transports: list[GrpcWorkerTransport], clock: FakeClock) -> Any:
    async def connect(port: int, **kwargs: Any) -> GrpcWorkerTransport:
        kwargs.setdefault("plaintext", True)
        secret = kwargs.pop("secret", SECRET)
        endpoint = kwargs.pop("endpoint", f"127.0.0.1:{port}")
        transport = GrpcWorkerTransport(endpoint, secret, clock, **kwargs)
        await transport.start()
        transports.append(transport)
        return transport

    return connect


async def failure_of(call: Any) -> TransportFailure:
    with pytest.raises(TransportFailure) as failed:
        await call
    return failed.value


async def test_execute_and_capabilities_round_trip(
    grpc_worker: StartWorker, connect: Any, handler: FakeHandler
) -> None:
    transport: WorkerTransport = await connect(await grpc_worker())
    assert transport.protocol == "grpc"
    result = await transport.execute(BODY, timeout_s=WAIT_S)
    assert json.loads(result) == {"outcome": "COMPLETED", "echo": BODY.decode()}
    assert handler.commands == [BODY]
    capability = json.loads(await transport.capabilities(timeout_s=WAIT_S))
    assert capability["providerName"] == "grpc"
    # Each call is signed afresh (a new nonce), so repeating one is not a replay.
    await transport.execute(BODY, timeout_s=WAIT_S)
    assert handler.commands == [BODY, BODY]


async def test_calls_before_start_are_a_programming_error(clock: FakeClock) -> None:
    transport = GrpcWorkerTransport("127.0.0.1:1", SECRET, clock, plaintext=True)
    with pytest.raises(RuntimeError, match="before start"):
        await transport.execute(BODY, timeout_s=1.0)
    await transport.aclose()  # closing an unopened transport is harmless


async def test_worker_refusals_become_categories(
    grpc_worker: StartWorker, connect: Any, handler: FakeHandler
) -> None:
    wrong_secret = await connect(await grpc_worker(), secret="not-the-secret")
    assert (await failure_of(wrong_secret.execute(BODY, WAIT_S))).category == "auth"
    disabled = await connect(await grpc_worker(enabled=False))
    assert (await failure_of(disabled.execute(BODY, WAIT_S))).category == "protocol"
    no_secret = await connect(await grpc_worker(verifier=None))
    assert (await failure_of(no_secret.capabilities(WAIT_S))).category == "remote_server"
    handler.fail = MalformedRequest("command envelope is not JSON")
    served = await connect(await grpc_worker())
    failure = await failure_of(served.execute(b"{", WAIT_S))
    assert failure.category == "malformed"
    assert "INVALID_ARGUMENT" in str(failure) and "not JSON" in str(failure)
    handler.fail = RuntimeError("boom")
    assert (await failure_of(served.execute(BODY, WAIT_S))).category == "remote_server"


async def test_no_worker_listening_is_unavailable(connect: Any) -> None:
    server, port = await _scripted_server(_Scripted())
    await server.stop(None)  # the port was just bound, so nothing else is on it
    failure = await failure_of((await connect(port)).execute(BODY, WAIT_S))
    assert failure.category == "unavailable"


class _Scripted(pb_grpc.TransitionWorkerServiceServicer):
    """A worker that ends every call with ``code`` or replies ``response`` as is."""

    def __init__(self) -> None:
        self.code: grpc.StatusCode | None = None
        self.response = pb.TransitionWorkerResponse(
            protocol_version="1", payload_encoding=ENVELOPE_ENCODING, result_envelope=b"{}"
        )
        self.capability = pb.TransitionWorkerCapabilitiesResponse(capability_envelope=b"{}")

    async def Execute(self, request: Any, context: Any) -> Any:
        if self.code is not None:
            await context.abort(self.code, "scripted")
        return self.response

    async def Capabilities(self, request: Any, context: Any) -> Any:
        if self.code is not None:
            await context.abort(self.code, "scripted")
        return self.capability


async def _scripted_server(servicer: _Scripted) -> tuple[grpc.aio.Server, int]:
    server = grpc.aio.server()
    pb_grpc.add_TransitionWorkerServiceServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    return server, port


@pytest.fixture
async def scripted() -> AsyncIterator[tuple[_Scripted, int]]:
    servicer = _Scripted()
    server, port = await _scripted_server(servicer)
    yield servicer, port
    await server.stop(None)


@pytest.mark.parametrize(
    ("code", "category"),
    [
        (grpc.StatusCode.DEADLINE_EXCEEDED, "timeout"),
        (grpc.StatusCode.UNAUTHENTICATED, "auth"),
        (grpc.StatusCode.UNAVAILABLE, "unavailable"),
        (grpc.StatusCode.INVALID_ARGUMENT, "malformed"),
        (grpc.StatusCode.CANCELLED, "cancelled"),
        (grpc.StatusCode.INTERNAL, "remote_server"),
        (grpc.StatusCode.FAILED_PRECONDITION, "remote_server"),
        (grpc.StatusCode.UNIMPLEMENTED, "protocol"),
        (grpc.StatusCode.PERMISSION_DENIED, "unexpected"),
        (grpc.StatusCode.RESOURCE_EXHAUSTED, "unexpected"),
    ],
)
async def test_each_status_code_has_its_category(
    scripted: tuple[_Scripted, int], connect: Any, code: grpc.StatusCode, category: str
) -> None:
    servicer, port = scripted
    servicer.code = code
    transport = await connect(port)
    for call in (transport.execute(BODY, WAIT_S), transport.capabilities(WAIT_S)):
        failure = await failure_of(call)
        assert failure.category == category
        assert code.name in str(failure)


@pytest.mark.parametrize(
    ("fields", "category", "text"),
    [
        ({"protocol_version": "2"}, "protocol", "protocol version '2'"),
        ({"payload_encoding": "application/json"}, "protocol", "encoding 'application/json'"),
        ({"result_envelope": b""}, "malformed", "empty result envelope"),
    ],
)
async def test_a_reply_in_another_version_or_encoding_is_refused(
    scripted: tuple[_Scripted, int],
    connect: Any,
    fields: dict[str, Any],
    category: str,
    text: str,
) -> None:
    servicer, port = scripted
    for name, value in fields.items():
        setattr(servicer.response, name, value)
    failure = await failure_of((await connect(port)).execute(BODY, WAIT_S))
    assert (failure.category, text in str(failure)) == (category, True)


async def test_an_empty_capability_is_malformed(
    scripted: tuple[_Scripted, int], connect: Any
) -> None:
    servicer, port = scripted
    servicer.capability = pb.TransitionWorkerCapabilitiesResponse()
    failure = await failure_of((await connect(port)).capabilities(WAIT_S))
    assert failure.category == "malformed"


@pytest.mark.parametrize(
    ("timeout_s", "request_timeout_s"), [(0.2, 60.0), (60.0, 0.2)], ids=["call", "configured"]
)
async def test_a_slow_worker_times_out_and_its_call_is_cancelled(
    grpc_worker: StartWorker,
    connect: Any,
    handler: FakeHandler,
    timeout_s: float,
    request_timeout_s: float,
) -> None:
    handler.hold = asyncio.Event()  # never set: the worker never answers
    transport = await connect(await grpc_worker(), request_timeout_s=request_timeout_s)
    # Bounded well under the longer of the two: only the shorter one can end the call in time.
    failure = await failure_of(asyncio.wait_for(transport.execute(BODY, timeout_s), WAIT_S))
    assert failure.category == "timeout"
    assert "DEADLINE_EXCEEDED" in str(failure)
    # The deadline reaches the worker: its transition is cancelled, not left running.
    await asyncio.wait_for(handler.cancelled.wait(), WAIT_S)


async def test_cancelling_the_caller_cancels_the_remote_call(
    grpc_worker: StartWorker, connect: Any, handler: FakeHandler
) -> None:
    handler.hold = asyncio.Event()
    transport = await connect(await grpc_worker())
    call = asyncio.create_task(transport.execute(BODY, WAIT_S * 3))
    await asyncio.wait_for(handler.entered.wait(), WAIT_S)
    call.cancel()
    with pytest.raises(asyncio.CancelledError):  # a lost lease is a cancellation, not a failure
        await call
    await asyncio.wait_for(handler.cancelled.wait(), WAIT_S)


async def test_the_clients_inbound_limit_bounds_the_reply(
    grpc_worker: StartWorker, connect: Any, handler: FakeHandler
) -> None:
    port = await grpc_worker()
    handler.result = b'{"p":"' + b"x" * 3000 + b'"}'
    small = await connect(port, max_inbound_message_size=2048)
    failure = await failure_of(small.execute(BODY, WAIT_S))
    assert (failure.category, "RESOURCE_EXHAUSTED" in str(failure)) == ("unexpected", True)
    assert await (await connect(port)).execute(BODY, WAIT_S) == handler.result


async def test_an_oversized_command_is_refused_by_the_worker(
    grpc_worker: StartWorker, connect: Any, handler: FakeHandler
) -> None:
    transport = await connect(await grpc_worker(max_inbound_message_size=2048))
    failure = await failure_of(transport.execute(b'{"p":"' + b"x" * 3000 + b'"}', WAIT_S))
    assert "RESOURCE_EXHAUSTED" in str(failure)
    assert handler.commands == []


async def test_tls_round_trip_with_a_self_signed_certificate(
    grpc_worker: StartWorker, connect: Any, handler: FakeHandler, tmp_path: Path
) -> None:
    cert, key = write_self_signed(tmp_path)
    port = await grpc_worker(tls=(str(cert), str(key)))
    for endpoint in (f"127.0.0.1:{port}", f"localhost:{port}"):
        transport = await connect(port, endpoint=endpoint, plaintext=False, ca_file=str(cert))
        assert json.loads(await transport.execute(BODY, WAIT_S))["echo"] == BODY.decode()
    assert handler.commands == [BODY, BODY]
    # Not trusting the certificate, or not speaking TLS, reaches no worker.
    untrusted = await connect(port, plaintext=False)
    assert (await failure_of(untrusted.execute(BODY, WAIT_S))).category == "unavailable"
    plaintext = await connect(port, plaintext=True)
    assert (await failure_of(plaintext.execute(BODY, WAIT_S))).category == "unavailable"
    assert handler.commands == [BODY, BODY]
