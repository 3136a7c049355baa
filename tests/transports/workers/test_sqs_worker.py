"""SQS request/reply against moto over HTTP, worker side: the round trip through a real poller,
its drop rules (malformed, tampered, stale, replayed, also across replicas), FAILED results for
a raising handler, the poll-start delay and the drain on close."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import msgspec
import orjson
import pytest

from tests.aws_calls import CallLog
from tests.transports.workers.sqs_worker_kit import (
    EMPTY,
    SECRET,
    EchoHandler,
    command,
    counts,
    receive_all,
    send_raw,
)
from tpf.aws.clients import AwsClients
from tpf.core.clock import FakeClock, SystemClock
from tpf.transports.workers.remote.contracts import MalformedRequest
from tpf.transports.workers.remote.nonces import MemoryNonceGuard
from tpf.transports.workers.remote.signing import Signer, Verifier
from tpf.transports.workers.remote.sqs_client import SqsWorkerTransport
from tpf.transports.workers.remote.sqs_messages import (
    TAG_ATTRIBUTE,
    SqsRequest,
    decode_response,
    encode,
    sign_request,
    verify_response,
)
from tpf.transports.workers.remote.sqs_server import SqsWorkerServer


def server(
    aws: AwsClients, queues: tuple[str, str], handler: EchoHandler, **options: object
) -> SqsWorkerServer:
    return SqsWorkerServer(aws, *queues, handler, SECRET, SystemClock(), **options)  # type: ignore[arg-type]


def signed(n: int, signer: Signer | None = None) -> SqsRequest:
    return sign_request(signer or Signer(SECRET, SystemClock()), f"tag:{n}", command(n).decode())


async def test_round_trip_through_the_poller(
    aws: AwsClients, worker_queues: tuple[str, str]
) -> None:
    handler = EchoHandler()
    worker = server(aws, worker_queues, handler)
    transport = SqsWorkerTransport(aws, *worker_queues, SECRET, SystemClock())
    await worker.start()
    await transport.start()
    consumer = transport.consumer
    try:
        results = await asyncio.gather(*(transport.execute(command(n), 10) for n in range(12)))
    finally:
        await transport.aclose()
        await worker.aclose()
    for n, result in enumerate(results):
        assert orjson.loads(result) == {"outcome": "COMPLETED", "echo": orjson.loads(command(n))}
    # At least once: a duplicated request is refused as replayed, a duplicated response is late.
    assert worker.outcomes["processed"] == 12
    assert set(worker.outcomes) <= {"processed", "unauthenticated"}
    assert consumer.outcomes["delivered"] == 12
    assert set(consumer.outcomes) <= {"delivered", "late"}
    for url in worker_queues:
        assert await counts(aws, url) == EMPTY


async def test_the_response_is_signed_and_carries_the_tag_back(
    aws: AwsClients, worker_queues: tuple[str, str]
) -> None:
    request_url, response_url = worker_queues
    sqs = await aws.client("sqs")
    request = signed(1)
    await sqs.send_message(
        QueueUrl=request_url,
        MessageBody=encode(request),
        MessageAttributes={TAG_ATTRIBUTE: {"DataType": "String", "StringValue": "tag"}},
    )
    assert await server(aws, worker_queues, EchoHandler()).poll_once(0) == 1
    [message] = await receive_all(aws, response_url)
    assert message["MessageAttributes"][TAG_ATTRIBUTE]["StringValue"] == "tag"
    response = decode_response(message["Body"])
    assert response.request_id == "tag:1"
    clock = SystemClock()
    await verify_response(Verifier(SECRET, clock, MemoryNonceGuard(clock)), response)
    assert await counts(aws, request_url) == EMPTY


@pytest.mark.parametrize(
    ("make_body", "outcome", "reason"),
    [
        (lambda: "not json", "malformed", None),
        (lambda: '{"requestId":"tag:1"}', "malformed", None),
        (
            lambda: encode(
                msgspec.structs.replace(signed(1), command_envelope='{"tenantId":"t2"}')
            ),
            "unauthenticated",
            "signature",
        ),
        (
            lambda: encode(msgspec.structs.replace(signed(1), signature=None)),
            "unauthenticated",
            "missing",
        ),
        (
            lambda: encode(signed(1, Signer(SECRET, FakeClock(SystemClock().now_ms() - 121_000)))),
            "unauthenticated",
            "stale",
        ),
        (
            lambda: encode(signed(1, Signer("another-secret", SystemClock()))),
            "unauthenticated",
            "signature",
        ),
    ],
    ids=["not-json", "no-command", "tampered", "unsigned", "stale", "wrong-secret"],
)
async def test_bad_requests_are_deleted_unanswered(
    aws: AwsClients,
    worker_queues: tuple[str, str],
    make_body: Callable[[], str],
    outcome: str,
    reason: str | None,
) -> None:
    # Signed when the test runs, not at collection: a body stamped then may be stale by now.
    body = make_body()
    request_url, response_url = worker_queues
    handler = EchoHandler()
    worker = server(aws, worker_queues, handler)
    await send_raw(aws, request_url, body)
    assert await worker.poll_once(0) == 1
    assert worker.outcomes == {outcome: 1}
    assert worker.refusals == ({reason: 1} if reason else {})
    assert handler.commands == []
    assert await counts(aws, request_url) == EMPTY
    assert await counts(aws, response_url) == EMPTY


@pytest.mark.parametrize(
    "change", [{"protocol_version": "2"}, {"command_encoding": "application/json"}]
)
async def test_an_unknown_version_or_encoding_is_dropped_after_the_signature_holds(
    aws: AwsClients, worker_queues: tuple[str, str], change: dict[str, str]
) -> None:
    # The signature covers only the request id and the command: these fields may differ.
    handler = EchoHandler()
    worker = server(aws, worker_queues, handler)
    await send_raw(aws, worker_queues[0], encode(msgspec.structs.replace(signed(1), **change)))
    assert await worker.poll_once(0) == 1
    assert worker.outcomes == {"malformed": 1} and handler.commands == []


async def test_a_replayed_request_runs_once_also_across_replicas_sharing_nonces(
    aws: AwsClients, worker_queues: tuple[str, str]
) -> None:
    request_url, response_url = worker_queues
    nonces = MemoryNonceGuard(SystemClock())  # a store both replicas share
    handler = EchoHandler()
    replicas = [server(aws, worker_queues, handler, nonces=nonces) for _ in range(2)]
    body = encode(signed(1))
    await send_raw(aws, request_url, body)
    assert await replicas[0].poll_once(0) == 1
    await send_raw(aws, request_url, body)  # the same message again: to the other replica
    assert await replicas[1].poll_once(0) == 1
    await send_raw(aws, request_url, body)
    assert await replicas[0].poll_once(0) == 1
    assert len(handler.commands) == 1
    assert replicas[0].outcomes == {"processed": 1, "unauthenticated": 1}
    assert replicas[1].refusals == {"replayed": 1}
    assert len(await receive_all(aws, response_url)) == 1
    assert await counts(aws, request_url) == EMPTY


@pytest.mark.parametrize(
    ("error", "failure_class", "message"),
    [
        (RuntimeError("boom"), "java.lang.IllegalStateException", "boom"),
        (MalformedRequest("no tenantId"), "java.lang.IllegalArgumentException", "no tenantId"),
        (RuntimeError(), "java.lang.IllegalStateException", "RuntimeError"),
    ],
)
async def test_a_raising_handler_answers_failed(
    aws: AwsClients,
    worker_queues: tuple[str, str],
    error: Exception,
    failure_class: str,
    message: str,
) -> None:
    worker = server(aws, worker_queues, EchoHandler(error))
    transport = SqsWorkerTransport(aws, *worker_queues, SECRET, SystemClock())
    await worker.start()
    try:
        result = await transport.execute(command(1), 10)
    finally:
        await transport.aclose()
        await worker.aclose()
    assert orjson.loads(result) == {
        "outcome": "FAILED",
        "failure": {"failureClass": failure_class, "message": message},
    }
    assert worker.outcomes == {"failed": 1}


async def test_close_waits_for_requests_in_flight(
    aws: AwsClients, worker_queues: tuple[str, str]
) -> None:
    handler = EchoHandler()
    handler.gate = asyncio.Event()
    worker = server(aws, worker_queues, handler)
    transport = SqsWorkerTransport(aws, *worker_queues, SECRET, SystemClock())
    await worker.start()
    try:
        call = asyncio.create_task(transport.execute(command(1), 10))
        async with asyncio.timeout(10):
            await handler.entered.wait()
        closing = asyncio.create_task(worker.aclose())
        done, _ = await asyncio.wait([closing], timeout=0.2)
        assert not done  # still answering the request in flight
        handler.gate.set()
        async with asyncio.timeout(10):
            await closing
        assert orjson.loads(await call)["outcome"] == "COMPLETED"
    finally:
        await transport.aclose()
        await worker.aclose()
    assert await counts(aws, worker_queues[0]) == EMPTY


async def test_polling_waits_for_the_start_delay_and_close_cuts_it_short(
    aws: AwsClients, worker_queues: tuple[str, str], sqs_calls: CallLog
) -> None:
    worker = server(aws, worker_queues, EchoHandler(), poll_start_delay_s=60.0)
    await worker.start()
    await send_raw(aws, worker_queues[0], encode(signed(1)))
    async with asyncio.timeout(5):
        await worker.aclose()
    assert sqs_calls.calls["ReceiveMessage"] == 0
    assert (await counts(aws, worker_queues[0]))["visible"] == 1


async def test_a_receive_asks_only_for_free_slots(
    aws: AwsClients, worker_queues: tuple[str, str], sqs_calls: CallLog
) -> None:
    handler = EchoHandler()
    handler.gate = asyncio.Event()
    worker = server(aws, worker_queues, handler, concurrency=3)
    for n in range(5):
        await send_raw(aws, worker_queues[0], encode(signed(n)))
    await worker.start()
    try:
        async with asyncio.timeout(10):
            while len(handler.commands) < 3:
                handler.entered.clear()
                await handler.entered.wait()
        asked = [p["MaxNumberOfMessages"] for p in sqs_calls.sent("ReceiveMessage")]
        assert sum(asked) >= 3 and max(asked) <= 3
        assert len(handler.commands) == 3  # the other two wait, visible, in the queue
        handler.gate.set()
        async with asyncio.timeout(10):
            while len(handler.commands) < 5:
                handler.entered.clear()
                await handler.entered.wait()
    finally:
        handler.gate.set()
        await worker.aclose()
    assert worker.outcomes == {"processed": 5}
