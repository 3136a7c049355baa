"""The REST worker transport against a real REST worker on 127.0.0.1: signed round trips
(the original's vector on the wire), and each failure's boundary category."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Iterator

import pytest

from tests.transports.workers.rest_support import (
    BODY,
    CAPABILITIES_VECTOR,
    CAPABILITY,
    EXECUTE_VECTOR,
    NONCE,
    RESULT,
    SECRET,
    TS,
    FakeHandler,
    Worker,
    original_clock,
    rest_worker,
)
from tpf.transports.workers.remote.contracts import (
    MalformedRequest,
    TransportFailure,
    WorkerNotReady,
    WorkerTransport,
)
from tpf.transports.workers.remote.rest_client import RestWorkerTransport


def transport(url: str, *, secret: str = SECRET, **kwargs: float) -> RestWorkerTransport:
    return RestWorkerTransport(url, secret, original_clock(), nonce_factory=lambda: NONCE, **kwargs)


@pytest.fixture
async def worker() -> AsyncIterator[Worker]:
    async with rest_worker() as served:
        yield served


async def failure_of(rest: RestWorkerTransport, **call: float) -> TransportFailure:
    await rest.start()
    try:
        with pytest.raises(TransportFailure) as failed:
            await rest.execute(BODY, **call)
        return failed.value
    finally:
        await rest.aclose()


async def test_execute_round_trip_carries_the_original_signature(worker: Worker) -> None:
    rest: WorkerTransport = transport(worker.url + "/")  # a trailing slash is not doubled
    await rest.start()
    try:
        assert await rest.execute(BODY, 5.0) == RESULT
    finally:
        await rest.aclose()
    assert worker.handler.commands == [BODY]
    (headers,) = worker.seen_headers
    assert headers["X-TPF-Worker-Timestamp"] == TS
    assert headers["X-TPF-Worker-Nonce"] == NONCE
    assert headers["X-TPF-Worker-Signature"] == EXECUTE_VECTOR
    assert headers["Content-Type"] == "application/json"


async def test_capabilities_round_trip_carries_the_original_signature(worker: Worker) -> None:
    rest = transport(worker.url)
    await rest.start()
    try:
        assert await rest.capabilities(5.0) == CAPABILITY
    finally:
        await rest.aclose()
    assert worker.handler.providers == ["rest"]
    assert worker.seen_headers[0]["X-TPF-Worker-Signature"] == CAPABILITIES_VECTOR


async def test_calls_share_one_pooled_connection(worker: Worker) -> None:
    rest = RestWorkerTransport(worker.url, SECRET, worker.clock)  # random nonces
    await rest.start()
    try:
        for _ in range(3):
            assert await rest.execute(BODY) == RESULT
    finally:
        await rest.aclose()
    assert len(worker.handler.commands) == 3
    # One kept-alive connection: every request came from the same client port.
    assert len(set(worker.seen_peers)) == 1 and None not in worker.seen_peers
    assert len({h["X-TPF-Worker-Nonce"] for h in worker.seen_headers}) == 3  # fresh nonces


async def test_a_wrong_secret_is_auth(worker: Worker) -> None:
    failure = await failure_of(transport(worker.url, secret="not-the-secret"))
    assert failure.category == "auth"
    assert "HTTP 401" in str(failure)


async def test_a_replayed_nonce_is_auth(worker: Worker) -> None:
    rest = transport(worker.url)  # the same fixed nonce twice
    await rest.start()
    try:
        assert await rest.execute(BODY) == RESULT
        with pytest.raises(TransportFailure) as failed:
            await rest.execute(BODY)
    finally:
        await rest.aclose()
    assert failed.value.category == "auth"


@pytest.mark.parametrize(
    ("handler", "secret", "enabled", "category"),
    [
        (FakeHandler(), None, True, "unavailable"),  # 503: no secret on the worker
        (FakeHandler(raises=WorkerNotReady("draining")), SECRET, True, "unavailable"),
        (FakeHandler(raises=RuntimeError("bug")), SECRET, True, "remote_server"),  # 500
        (FakeHandler(raises=MalformedRequest("bad")), SECRET, True, "malformed"),  # 400
        (FakeHandler(), SECRET, False, "protocol"),  # 404: server disabled
        (FakeHandler(result=b"<html>"), SECRET, True, "malformed"),  # 200, not JSON
        (FakeHandler(result=b"[1]"), SECRET, True, "malformed"),  # 200, not an object
    ],
)
async def test_worker_answers_map_to_categories(
    handler: FakeHandler, secret: str | None, enabled: bool, category: str
) -> None:
    async with rest_worker(handler, secret=secret, enabled=enabled) as worker:
        failure = await failure_of(transport(worker.url))
    assert failure.category == category


async def test_a_slow_worker_times_out_within_the_calls_timeout() -> None:
    handler = FakeHandler(hang=True)
    async with rest_worker(handler) as worker:
        rest = transport(worker.url)  # default request timeout 30 s; the call asks for 0.2 s
        failure = await failure_of(rest, timeout_s=0.2)
        assert handler.entered.is_set() and not handler.release.is_set()
    assert failure.category == "timeout"


async def test_the_default_request_timeout_applies() -> None:
    handler = FakeHandler(hang=True)
    async with rest_worker(handler) as worker:
        failure = await failure_of(transport(worker.url, request_timeout_s=0.2))
    assert failure.category == "timeout"


async def test_a_cancelled_call_propagates_the_cancellation() -> None:
    handler = FakeHandler(hang=True)
    async with rest_worker(handler) as worker:
        rest = transport(worker.url)
        await rest.start()
        try:
            call = asyncio.ensure_future(rest.execute(BODY))
            await asyncio.wait_for(handler.entered.wait(), 10)
            call.cancel()
            with pytest.raises(asyncio.CancelledError):
                await call
        finally:
            await rest.aclose()


@pytest.fixture
def refused_url() -> Iterator[str]:
    """A port bound but not listening: connecting is refused, and nothing else can take it."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"


async def test_a_refused_connection_is_unavailable(refused_url: str) -> None:
    failure = await failure_of(transport(refused_url))
    assert failure.category == "unavailable"


async def test_a_call_before_start_fails_without_a_session(worker: Worker) -> None:
    with pytest.raises(TransportFailure) as failed:
        await transport(worker.url).execute(BODY)
    assert failed.value.category == "unexpected"
    assert worker.handler.commands == []
