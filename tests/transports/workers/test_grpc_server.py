"""The gRPC worker server on the wire (127.0.0.1, a free port), driven by protoc's own stub so
every message field is the test's: the original's signature vector, the refusals, the
original's status codes."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest

from tests.transports.workers.conftest import BODY, NONCE, SECRET, FakeHandler, StartWorker
from tpf.core.clock import FakeClock
from tpf.transports.workers.remote.contracts import (
    ENVELOPE_ENCODING,
    GRPC_CAPABILITIES_PATH,
    GRPC_EXECUTE_PATH,
    MalformedRequest,
    WorkerNotReady,
)
from tpf.transports.workers.remote.grpc import transition_worker_pb2 as pb
from tpf.transports.workers.remote.grpc import transition_worker_pb2_grpc as pb_grpc
from tpf.transports.workers.remote.signing import DEFAULT_TOLERANCE_MS, Signer, Verifier

GRPC_VECTOR = "55bfa8792097085a7fcced9b4366a085336efc82c69e63f06ca19ef43df6cd6c"


@pytest.fixture
async def stub(grpc_worker: StartWorker) -> AsyncIterator[Any]:
    port = await grpc_worker()
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        yield pb_grpc.TransitionWorkerServiceStub(channel)


def execute_request(
    signer: Signer, body: bytes = BODY, path: str = GRPC_EXECUTE_PATH, **fields: Any
) -> pb.TransitionWorkerRequest:
    stamp = signer.stamp("GRPC", path, body)
    values: dict[str, Any] = {
        "protocol_version": "1",
        "payload_encoding": ENVELOPE_ENCODING,
        "command_envelope": body,
        "timestamp": stamp.timestamp,
        "nonce": stamp.nonce,
        "signature": stamp.signature,
    }
    return pb.TransitionWorkerRequest(**(values | fields))


def capabilities_request(signer: Signer, path: str = GRPC_CAPABILITIES_PATH, **fields: Any) -> Any:
    stamp = signer.stamp("GRPC", path, b"")
    values = {
        "protocol_version": "1",
        "timestamp": stamp.timestamp,
        "nonce": stamp.nonce,
        "signature": stamp.signature,
    }
    return pb.TransitionWorkerCapabilitiesRequest(**(values | fields))


async def status_of(call: Any) -> tuple[grpc.StatusCode, str]:
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await call
    return refused.value.code(), refused.value.details() or ""


async def test_the_originals_grpc_vector_is_accepted_on_the_wire(
    stub: Any, clock: FakeClock, handler: FakeHandler
) -> None:
    signer = Signer(SECRET, clock, nonce_factory=lambda: NONCE)
    request = execute_request(signer)
    assert (request.timestamp, request.nonce) == ("2026-01-01T00:00:00Z", NONCE)
    assert request.signature == GRPC_VECTOR
    response = await stub.Execute(request)
    assert handler.commands == [BODY]
    assert response.protocol_version == "1"
    assert response.payload_encoding == ENVELOPE_ENCODING
    assert json.loads(response.result_envelope)["echo"] == BODY.decode()


async def test_capabilities_are_signed_over_an_empty_body(
    stub: Any, clock: FakeClock, handler: FakeHandler
) -> None:
    response = await stub.Capabilities(capabilities_request(Signer(SECRET, clock)))
    assert json.loads(response.capability_envelope)["providerName"] == "grpc"
    assert handler.providers == ["grpc"]


async def test_a_replayed_nonce_is_refused(
    stub: Any, clock: FakeClock, handler: FakeHandler
) -> None:
    request = execute_request(Signer(SECRET, clock))
    await stub.Execute(request)
    code, details = await status_of(stub.Execute(request))
    assert code is grpc.StatusCode.UNAUTHENTICATED
    assert "nonce" not in details  # the reason is logged, not told to the caller
    assert handler.commands == [BODY]


async def test_a_tampered_body_is_refused(
    stub: Any, clock: FakeClock, handler: FakeHandler
) -> None:
    request = execute_request(Signer(SECRET, clock), command_envelope=b'{"tenantId":"tenant-2"}')
    assert (await status_of(stub.Execute(request)))[0] is grpc.StatusCode.UNAUTHENTICATED
    assert handler.commands == []


@pytest.mark.parametrize("skew_ms", [DEFAULT_TOLERANCE_MS + 1, -(DEFAULT_TOLERANCE_MS + 1)])
async def test_a_stale_or_future_timestamp_is_refused(
    stub: Any, clock: FakeClock, handler: FakeHandler, skew_ms: int
) -> None:
    signer_clock = FakeClock(clock.now_ms() - skew_ms)  # the caller's clock is off by skew
    request = execute_request(Signer(SECRET, signer_clock))
    assert (await status_of(stub.Execute(request)))[0] is grpc.StatusCode.UNAUTHENTICATED
    assert handler.commands == []


@pytest.mark.parametrize(
    "fields",
    [
        {"signature": ""},
        {"nonce": ""},
        {"timestamp": "not-an-instant"},
        {"signature": "0" * 64},
    ],
    ids=["no-signature", "no-nonce", "bad-timestamp", "wrong-signature"],
)
async def test_unsigned_or_missigned_calls_are_unauthenticated(
    stub: Any, clock: FakeClock, fields: dict[str, str]
) -> None:
    request = execute_request(Signer(SECRET, clock), **fields)
    assert (await status_of(stub.Execute(request)))[0] is grpc.StatusCode.UNAUTHENTICATED


async def test_a_signature_for_another_rpc_or_secret_is_refused(
    stub: Any, clock: FakeClock
) -> None:
    as_execute = capabilities_request(Signer(SECRET, clock), path=GRPC_EXECUTE_PATH)
    assert (await status_of(stub.Capabilities(as_execute)))[0] is grpc.StatusCode.UNAUTHENTICATED
    other_secret = execute_request(Signer("another-secret", clock))
    assert (await status_of(stub.Execute(other_secret)))[0] is grpc.StatusCode.UNAUTHENTICATED


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"protocol_version": "2"}, "protocol version '2'"),
        ({"protocol_version": ""}, "protocol version ''"),
        ({"payload_encoding": "application/json"}, "payload encoding 'application/json'"),
    ],
)
async def test_a_wrong_version_or_encoding_is_invalid_argument(
    stub: Any, clock: FakeClock, handler: FakeHandler, fields: dict[str, str], expected: str
) -> None:
    code, details = await status_of(stub.Execute(execute_request(Signer(SECRET, clock), **fields)))
    assert (code, expected in details) == (grpc.StatusCode.INVALID_ARGUMENT, True)
    assert handler.commands == []


async def test_a_capabilities_call_in_another_version_is_invalid_argument(
    stub: Any, clock: FakeClock
) -> None:
    request = capabilities_request(Signer(SECRET, clock), protocol_version="2")
    assert (await status_of(stub.Capabilities(request)))[0] is grpc.StatusCode.INVALID_ARGUMENT


@pytest.mark.parametrize(
    ("failure", "code"),
    [
        (MalformedRequest("command envelope is not JSON"), grpc.StatusCode.INVALID_ARGUMENT),
        (WorkerNotReady("worker is shutting down"), grpc.StatusCode.FAILED_PRECONDITION),
        (RuntimeError("db password is hunter2"), grpc.StatusCode.INTERNAL),
    ],
)
async def test_handler_failures_map_to_the_originals_codes(
    stub: Any, clock: FakeClock, handler: FakeHandler, failure: Exception, code: grpc.StatusCode
) -> None:
    handler.fail = failure
    got, details = await status_of(stub.Execute(execute_request(Signer(SECRET, clock))))
    assert got is code
    assert "hunter2" not in details  # an unexpected error's text stays in the worker's log
    got, _ = await status_of(stub.Capabilities(capabilities_request(Signer(SECRET, clock))))
    assert got is code


async def _stub_for(grpc_worker: StartWorker, **kwargs: Any) -> tuple[grpc.aio.Channel, Any]:
    port = await grpc_worker(**kwargs)
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
    return channel, pb_grpc.TransitionWorkerServiceStub(channel)


async def test_a_disabled_server_is_unimplemented(
    grpc_worker: StartWorker, clock: FakeClock, handler: FakeHandler
) -> None:
    channel, stub = await _stub_for(grpc_worker, enabled=False)
    async with channel:
        request = execute_request(Signer(SECRET, clock))
        assert (await status_of(stub.Execute(request)))[0] is grpc.StatusCode.UNIMPLEMENTED
        caps = capabilities_request(Signer(SECRET, clock))
        assert (await status_of(stub.Capabilities(caps)))[0] is grpc.StatusCode.UNIMPLEMENTED
    assert handler.commands == handler.providers == []


async def test_a_worker_without_a_secret_is_failed_precondition(
    grpc_worker: StartWorker, clock: FakeClock, handler: FakeHandler
) -> None:
    channel, stub = await _stub_for(grpc_worker, verifier=None)
    async with channel:
        request = execute_request(Signer(SECRET, clock))
        assert (await status_of(stub.Execute(request)))[0] is grpc.StatusCode.FAILED_PRECONDITION
    assert handler.commands == []


async def test_the_inbound_message_limit_is_the_configured_one(
    grpc_worker: StartWorker, clock: FakeClock, handler: FakeHandler
) -> None:
    channel, stub = await _stub_for(grpc_worker, max_inbound_message_size=2048)
    async with channel:
        fits = b'{"p":"' + b"x" * 1500 + b'"}'
        await stub.Execute(execute_request(Signer(SECRET, clock), body=fits))
        too_big = b'{"p":"' + b"x" * 3000 + b'"}'
        request = execute_request(Signer(SECRET, clock), body=too_big)
        assert (await status_of(stub.Execute(request)))[0] is grpc.StatusCode.RESOURCE_EXHAUSTED
    assert handler.commands == [fits]


class BrokenNonces:
    """A shared nonce store that cannot answer (its database is gone)."""

    async def claim(self, nonce: str, expires_at_ms: int) -> bool:
        raise OSError("disk I/O error")


async def test_a_failing_nonce_store_is_failed_precondition_not_unauthenticated(
    grpc_worker: StartWorker, clock: FakeClock, handler: FakeHandler
) -> None:
    port = await grpc_worker(verifier=Verifier(SECRET, clock, BrokenNonces()))
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = pb_grpc.TransitionWorkerServiceStub(channel)
        code, details = await status_of(stub.Execute(execute_request(Signer(SECRET, clock))))
    assert code is grpc.StatusCode.FAILED_PRECONDITION
    assert "disk" not in details
    assert handler.commands == []
