"""SQS request/reply against moto over HTTP, coordinator side: response demultiplexing (two
coordinators on one response queue, through one consumer and through two), late, foreign,
expired and forged responses, the timeout, and the startup checks."""

from __future__ import annotations

import asyncio

import orjson
import pytest

from tests.aws_calls import CallLog
from tests.transports.workers.sqs_worker_kit import (
    EMPTY,
    SECRET,
    EchoHandler,
    command,
    counts,
    create_queue,
    receive_all,
    send_raw,
    until_calls,
)
from tpf.aws.clients import AwsClients
from tpf.config.settings import Settings
from tpf.core.clock import FakeClock, SystemClock
from tpf.core.errors import ConfigError
from tpf.transports.workers.remote.contracts import TransportFailure
from tpf.transports.workers.remote.nonces import MemoryNonceGuard
from tpf.transports.workers.remote.signing import Signer, Verifier
from tpf.transports.workers.remote.sqs_client import RequestIdsAreNonces, SqsWorkerTransport
from tpf.transports.workers.remote.sqs_messages import (
    decode_request,
    encode,
    new_request_id,
    sign_response,
)
from tpf.transports.workers.remote.sqs_responses import SqsResponseConsumer
from tpf.transports.workers.remote.sqs_server import SqsWorkerServer


def response_body(
    request_id: str, result: bytes = b'{"outcome":"COMPLETED"}', secret: str = SECRET
) -> str:
    return encode(sign_response(Signer(secret, SystemClock()), request_id, result.decode()))


async def run_coordinators(
    transports: list[SqsWorkerTransport], calls_each: int
) -> list[list[bytes]]:
    """``calls_each`` concurrent calls on every transport at once; each one's results."""
    return await asyncio.gather(
        *(
            asyncio.gather(*(t.execute(command(n, t.tag), 30) for n in range(calls_each)))
            for t in transports
        )
    )


def assert_own_results(transports: list[SqsWorkerTransport], results: list[list[bytes]]) -> None:
    for transport, got in zip(transports, results, strict=True):
        for n, result in enumerate(got):
            assert orjson.loads(result)["echo"] == orjson.loads(command(n, transport.tag))


async def test_two_coordinators_in_one_process_share_one_consumer(
    aws: AwsClients, worker_queues: tuple[str, str]
) -> None:
    worker = SqsWorkerServer(aws, *worker_queues, EchoHandler(), SECRET, SystemClock())
    transports = [
        SqsWorkerTransport(aws, *worker_queues, SECRET, SystemClock(), instance_tag=tag)
        for tag in ("coord-a", "coord-b")
    ]
    await worker.start()
    for transport in transports:
        await transport.start()
    consumer = transports[0].consumer
    assert transports[1].consumer is consumer
    try:
        results = await run_coordinators(transports, 20)
    finally:
        for transport in transports:
            await transport.aclose()
        await worker.aclose()
    assert_own_results(transports, results)
    # A standard queue delivers at least once (moto's concurrent receives too): a duplicate
    # is a "late" response, deleted.
    assert consumer.outcomes["delivered"] == 40
    assert set(consumer.outcomes) <= {"delivered", "late"}
    for url in worker_queues:
        assert await counts(aws, url) == EMPTY


async def test_two_coordinators_with_their_own_consumers_get_exactly_their_own_responses(
    aws: AwsClients, sqs_settings: Settings, worker_queues: tuple[str, str]
) -> None:
    """Two coordinators (one AwsClients each, so one consumer each) on one response queue:
    each one's responses reach only it; the other's are handed back, none is left over."""
    second = AwsClients(sqs_settings)
    worker = SqsWorkerServer(aws, *worker_queues, EchoHandler(), SECRET, SystemClock())
    transports = [
        SqsWorkerTransport(clients, *worker_queues, SECRET, SystemClock())
        for clients in (aws, second)
    ]
    await worker.start()
    for transport in transports:
        await transport.start()
    consumers = [t.consumer for t in transports]
    assert consumers[0] is not consumers[1] and transports[0].tag != transports[1].tag
    try:
        results = await run_coordinators(transports, 20)
    finally:
        for transport in transports:
            await transport.aclose()
        await worker.aclose()
        await second.close()
    assert_own_results(transports, results)
    for consumer in consumers:
        assert consumer.outcomes["delivered"] == 20
        assert set(consumer.outcomes) <= {"delivered", "handed_back", "late"}
    for url in worker_queues:
        assert await counts(aws, url) == EMPTY


async def test_late_foreign_and_expired_responses(
    aws: AwsClients, worker_queues: tuple[str, str], sqs_calls: CallLog
) -> None:
    """Not started, so every receive is this test's: ours but unknown is deleted; another's
    is handed back, later hidden longer each time; another's older than any wait is deleted."""
    response_url = worker_queues[1]
    clock = FakeClock(SystemClock().now_ms())
    consumer = SqsResponseConsumer(aws, response_url, clock)
    consumer.attach("ours", 30_000 + 120_000)
    await send_raw(aws, response_url, response_body(new_request_id("ours")))
    await send_raw(aws, response_url, response_body(new_request_id("theirs")))
    await send_raw(aws, response_url, "not a response")
    assert await consumer.poll_once(0) == 3
    assert consumer.outcomes == {"late": 1, "handed_back": 1, "malformed": 1}
    for _ in range(2):  # visible again at once the first two times
        assert await consumer.poll_once(0) == 1
    assert consumer.outcomes["handed_back"] == 3
    handbacks = [
        e["VisibilityTimeout"]
        for p in sqs_calls.sent("ChangeMessageVisibilityBatch")
        for e in p["Entries"]
    ]
    assert handbacks == [0, 0, 1]
    assert await counts(aws, response_url) == {"visible": 0, "in_flight": 1, "delayed": 0}
    clock.advance(200_000)  # its owner stopped waiting by now
    assert await consumer.poll_once(3) == 1  # once the 1 s hand-back is over
    assert consumer.outcomes["expired"] == 1
    assert await counts(aws, response_url) == EMPTY


async def test_a_forged_response_is_deleted_not_applied_and_the_call_waits_on(
    aws: AwsClients, worker_queues: tuple[str, str]
) -> None:
    response_url = worker_queues[1]
    clock = SystemClock()
    consumer = SqsResponseConsumer(aws, response_url, clock)
    consumer.attach("ours", 150_000)
    verifier = Verifier(SECRET, clock, MemoryNonceGuard(clock))
    pending = consumer.expect("ours:1", "ours", verifier)
    await send_raw(aws, response_url, response_body("ours:1", b'{"forged":1}', "not-the-secret"))
    assert await consumer.poll_once(0) == 1
    assert consumer.outcomes == {"refused": 1}
    assert pending.refused == ["signature"] and not pending.future.done()
    assert await counts(aws, response_url) == EMPTY
    await send_raw(aws, response_url, response_body("ours:1", b'{"real":1}'))
    assert await consumer.poll_once(0) == 1
    assert pending.future.result() == b'{"real":1}'
    assert consumer.outcomes == {"refused": 1, "delivered": 1} and consumer.waiting() == 0


async def test_a_replayed_response_finds_nobody_waiting(
    aws: AwsClients, worker_queues: tuple[str, str]
) -> None:
    response_url = worker_queues[1]
    clock = SystemClock()
    consumer = SqsResponseConsumer(aws, response_url, clock)
    consumer.attach("ours", 150_000)
    # The transport's verifier: request ids, not a bounded nonce memory, stop replays.
    pending = consumer.expect("ours:1", "ours", Verifier(SECRET, clock, RequestIdsAreNonces()))
    body = response_body("ours:1")
    await send_raw(aws, response_url, body)
    await send_raw(aws, response_url, body)
    assert await consumer.poll_once(0) == 2
    assert pending.future.result() == b'{"outcome":"COMPLETED"}'
    assert consumer.outcomes == {"delivered": 1, "late": 1}


async def test_a_response_in_another_protocol_fails_the_call(
    aws: AwsClients, worker_queues: tuple[str, str]
) -> None:
    response_url = worker_queues[1]
    clock = SystemClock()
    consumer = SqsResponseConsumer(aws, response_url, clock)
    consumer.attach("ours", 150_000)
    pending = consumer.expect("ours:1", "ours", Verifier(SECRET, clock, MemoryNonceGuard(clock)))
    body = orjson.loads(response_body("ours:1"))
    await send_raw(aws, response_url, orjson.dumps({**body, "protocolVersion": "2"}).decode())
    assert await consumer.poll_once(0) == 1
    with pytest.raises(TransportFailure) as failure:
        pending.future.result()
    assert failure.value.category == "protocol"


async def test_no_response_times_out_and_the_late_one_is_deleted(
    aws: AwsClients, worker_queues: tuple[str, str], sqs_calls: CallLog
) -> None:
    request_url, response_url = worker_queues
    transport = SqsWorkerTransport(
        aws, *worker_queues, SECRET, SystemClock(), request_timeout_s=0.3
    )
    await transport.start()
    consumer = transport.consumer
    try:
        with pytest.raises(TransportFailure) as failure:
            await transport.execute(command(1), 30)  # capped at the request timeout
        assert failure.value.category == "timeout"
        assert consumer.waiting() == 0
        [message] = await receive_all(aws, request_url)
        request = decode_request(message["Body"])
        assert request.request_id.startswith(f"{transport.tag}:")
        # The worker answers after all: nobody waits, so it is deleted, not handed back.
        worker = SqsWorkerServer(
            aws, request_url, response_url, EchoHandler(), SECRET, SystemClock()
        )
        await send_raw(aws, request_url, message["Body"])
        assert await worker.poll_once(0) == 1
        await until_calls(sqs_calls, "DeleteMessageBatch", 1)
    finally:
        await transport.aclose()
    assert set(consumer.outcomes) == {"late"}  # (twice if SQS delivered it twice)
    assert await counts(aws, response_url) == EMPTY


async def test_closing_fails_waiting_calls_and_the_last_one_out_stops_the_consumer(
    aws: AwsClients, worker_queues: tuple[str, str], sqs_calls: CallLog
) -> None:
    first, second = (
        SqsWorkerTransport(aws, *worker_queues, SECRET, SystemClock()) for _ in range(2)
    )
    await first.start()
    await second.start()
    consumer = first.consumer
    call = asyncio.create_task(first.execute(command(1), 30))
    await until_calls(sqs_calls, "SendMessage", 1)  # registered before its send
    assert consumer.waiting() == 1
    await first.aclose()
    with pytest.raises(TransportFailure) as failure:
        await call
    assert failure.value.category == "cancelled"
    assert SqsResponseConsumer.shared(aws, worker_queues[1], SystemClock()) is consumer
    await second.aclose()
    third = SqsWorkerTransport(aws, *worker_queues, SECRET, SystemClock())
    await third.start()
    try:
        assert third.consumer is not consumer
    finally:
        await third.aclose()


async def test_the_visibility_timeout_must_cover_the_request_timeout(
    aws: AwsClients, worker_queues: tuple[str, str], sqs_calls: CallLog
) -> None:
    short = await create_queue(aws, "tpf-worker-responses-short", visibility_s=5)
    transport = SqsWorkerTransport(aws, worker_queues[0], short, SECRET, SystemClock())
    with pytest.raises(ConfigError, match=r"worker\.sqs\.visibility-timeout") as refused:
        await transport.start()
    assert short in str(refused.value) and "5 s" in str(refused.value)
    # A configured visibility timeout is what receives use, so it is what is checked.
    configured = SqsWorkerTransport(
        aws, worker_queues[0], short, SECRET, SystemClock(), visibility_timeout_s=30
    )
    await configured.start()
    try:
        await until_calls(sqs_calls, "ReceiveMessage", 1)
        assert sqs_calls.sent("ReceiveMessage")[0]["VisibilityTimeout"] == 30
    finally:
        await configured.aclose()
    missing = SqsWorkerTransport(
        aws, worker_queues[0], short.replace("short", "missing"), SECRET, SystemClock()
    )
    with pytest.raises(ConfigError, match="does not exist"):
        await missing.start()


def test_fifo_queues_are_refused(aws: AwsClients, worker_queues: tuple[str, str]) -> None:
    with pytest.raises(ConfigError, match="FIFO"):
        SqsWorkerTransport(aws, worker_queues[0], worker_queues[1] + ".fifo", SECRET, SystemClock())
    with pytest.raises(ConfigError, match="FIFO"):
        SqsWorkerServer(
            aws, worker_queues[0] + ".fifo", worker_queues[1], EchoHandler(), SECRET, SystemClock()
        )


async def test_capabilities_are_the_static_ones(
    aws: AwsClients, worker_queues: tuple[str, str]
) -> None:
    static = b'{"protocolVersion":"1","providerName":"sqs"}'
    transport = SqsWorkerTransport(
        aws, *worker_queues, SECRET, SystemClock(), static_capability=static
    )
    assert await transport.capabilities(1) == static
    with pytest.raises(TransportFailure) as failure:
        await SqsWorkerTransport(aws, *worker_queues, SECRET, SystemClock()).capabilities(1)
    assert failure.value.category == "unavailable"
    assert transport.protocol == "sqs"
