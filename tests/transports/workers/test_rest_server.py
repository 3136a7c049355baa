"""The REST worker server over real HTTP on 127.0.0.1: the original's vectors are accepted on
the wire, and every refusal has the original's status code."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import orjson
import pytest
from aiohttp.test_utils import TestServer

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
    rest_worker,
)
from tpf.core.clock import FakeClock
from tpf.transports.workers.remote.contracts import (
    REST_CAPABILITIES_PATH,
    REST_EXECUTE_PATH,
    MalformedRequest,
    WorkerNotReady,
)
from tpf.transports.workers.remote.nonces import MemoryNonceGuard
from tpf.transports.workers.remote.rest_server import (
    WORKER_REST_SERVER,
    make_worker_app,
)
from tpf.transports.workers.remote.signing import Signer, Verifier


def original_headers(signature: str = EXECUTE_VECTOR) -> dict[str, str]:
    return {
        "X-TPF-Worker-Timestamp": TS,
        "X-TPF-Worker-Nonce": NONCE,
        "X-TPF-Worker-Signature": signature,
    }


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def test_the_original_execute_vector_is_accepted(http: aiohttp.ClientSession) -> None:
    async with rest_worker() as worker:
        url = worker.url + REST_EXECUTE_PATH
        async with http.post(url, data=BODY, headers=original_headers()) as response:
            assert response.status == 200
            assert response.content_type == "application/json"
            assert await response.read() == RESULT
        assert worker.handler.commands == [BODY]


async def test_the_original_capabilities_vector_is_accepted(http: aiohttp.ClientSession) -> None:
    async with rest_worker() as worker:
        url = worker.url + REST_CAPABILITIES_PATH
        async with http.get(url, headers=original_headers(CAPABILITIES_VECTOR)) as response:
            assert response.status == 200
            assert response.content_type == "application/json"
            assert await response.read() == CAPABILITY
        assert worker.handler.providers == ["rest"]


async def test_a_replayed_request_is_refused(http: aiohttp.ClientSession) -> None:
    async with rest_worker() as worker:
        url = worker.url + REST_EXECUTE_PATH
        statuses = []
        for _ in range(2):
            async with http.post(url, data=BODY, headers=original_headers()) as response:
                statuses.append(response.status)
                last = await response.json()
        assert statuses == [200, 401]
        assert last == {"error": {"code": "UNAUTHORIZED", "message": "signature refused: replayed"}}
        assert worker.handler.commands == [BODY]
        assert worker.server.rejections == {"replayed": 1}


@pytest.mark.parametrize(
    ("body", "headers", "advance_ms", "reason"),
    [
        (b'{"tenantId":"tenant-2"}', original_headers(), 0, "signature"),  # tampered body
        (BODY, original_headers(), 120_001, "stale"),
        (BODY, {}, 0, "missing"),
        (BODY, original_headers(CAPABILITIES_VECTOR), 0, "signature"),  # signed for GET
    ],
)
async def test_refused_requests_answer_401(
    http: aiohttp.ClientSession,
    body: bytes,
    headers: dict[str, str],
    advance_ms: int,
    reason: str,
) -> None:
    async with rest_worker() as worker:
        worker.clock.advance(advance_ms)
        url = worker.url + REST_EXECUTE_PATH
        async with http.post(url, data=body, headers=headers) as response:
            assert response.status == 401
            error = (await response.json())["error"]
        # The reason code only: never the expected signature or the server's time.
        assert error == {"code": "UNAUTHORIZED", "message": f"signature refused: {reason}"}
        assert worker.handler.commands == []


async def test_a_wrong_secret_is_refused(http: aiohttp.ClientSession) -> None:
    async with rest_worker(secret="another-secret") as worker:
        url = worker.url + REST_EXECUTE_PATH
        async with http.post(url, data=BODY, headers=original_headers()) as response:
            assert response.status == 401
        assert worker.server.rejections == {"signature": 1}


async def test_a_malformed_envelope_answers_400(http: aiohttp.ClientSession) -> None:
    handler = FakeHandler(raises=MalformedRequest("commandEnvelope: missing tenantId"))
    async with rest_worker(handler) as worker:
        url = worker.url + REST_EXECUTE_PATH
        async with http.post(url, data=BODY, headers=original_headers()) as response:
            assert response.status == 400
            error = (await response.json())["error"]
        assert error["code"] == "MALFORMED_REQUEST"
        assert error["message"] == "commandEnvelope: missing tenantId"


@pytest.mark.parametrize("path", [REST_EXECUTE_PATH, REST_CAPABILITIES_PATH])
async def test_a_disabled_server_answers_404_even_to_a_good_signature(
    http: aiohttp.ClientSession, path: str
) -> None:
    signature = EXECUTE_VECTOR if path == REST_EXECUTE_PATH else CAPABILITIES_VECTOR
    async with rest_worker(enabled=False) as worker:
        method = "POST" if path == REST_EXECUTE_PATH else "GET"
        data = BODY if method == "POST" else None
        async with http.request(
            method, worker.url + path, data=data, headers=original_headers(signature)
        ) as response:
            assert response.status == 404
        assert worker.handler.commands == worker.handler.providers == []


async def test_no_secret_answers_503(http: aiohttp.ClientSession) -> None:
    async with rest_worker(secret=None) as worker:
        url = worker.url + REST_EXECUTE_PATH
        async with http.post(url, data=BODY, headers=original_headers()) as response:
            assert response.status == 503
            assert (await response.json())["error"]["code"] == "SECRET_UNAVAILABLE"
        assert worker.handler.commands == []


async def test_a_worker_not_ready_answers_503(http: aiohttp.ClientSession) -> None:
    async with rest_worker(FakeHandler(raises=WorkerNotReady("draining"))) as worker:
        url = worker.url + REST_EXECUTE_PATH
        async with http.post(url, data=BODY, headers=original_headers()) as response:
            assert response.status == 503
            assert (await response.json())["error"]["code"] == "WORKER_NOT_READY"


async def test_a_handler_bug_answers_500_without_internals(http: aiohttp.ClientSession) -> None:
    async with rest_worker(FakeHandler(raises=RuntimeError("secret detail"))) as worker:
        url = worker.url + REST_EXECUTE_PATH
        async with http.post(url, data=BODY, headers=original_headers()) as response:
            assert response.status == 500
            assert b"secret detail" not in await response.read()


@pytest.mark.parametrize("chunked", [False, True])
async def test_a_body_over_the_cap_answers_413(http: aiohttp.ClientSession, chunked: bool) -> None:
    big = b'{"pad":"' + b"x" * 2048 + b'"}'

    async def stream() -> AsyncIterator[bytes]:  # no Content-Length: the cap counts the bytes
        yield big

    async with rest_worker(max_body_bytes=1024) as worker:
        clock = worker.clock
        stamp = Signer(SECRET, clock).stamp("POST", REST_EXECUTE_PATH, big)
        headers = {
            "X-TPF-Worker-Timestamp": stamp.timestamp,
            "X-TPF-Worker-Nonce": stamp.nonce,
            "X-TPF-Worker-Signature": stamp.signature,
        }
        data = stream() if chunked else big
        url = worker.url + REST_EXECUTE_PATH
        async with http.post(url, data=data, headers=headers) as response:
            assert response.status == 413
        assert worker.handler.commands == []


async def test_the_routes_live_beside_the_apps_own(http: aiohttp.ClientSession) -> None:
    async with rest_worker() as worker, http.get(worker.url + "/q/health") as response:
        assert response.status == 200


async def test_make_worker_app_serves_the_routes(http: aiohttp.ClientSession) -> None:
    clock = FakeClock()
    handler = FakeHandler()
    app = make_worker_app(handler, Verifier(SECRET, clock, MemoryNonceGuard(clock)), True)
    server = TestServer(app, host="127.0.0.1", port=0)
    await server.start_server()
    try:
        stamp = Signer(SECRET, clock).stamp("POST", REST_EXECUTE_PATH, BODY)
        headers = {
            "X-TPF-Worker-Timestamp": stamp.timestamp,
            "X-TPF-Worker-Nonce": stamp.nonce,
            "X-TPF-Worker-Signature": "0" * 64,
        }
        async with http.post(
            str(server.make_url(REST_EXECUTE_PATH)), data=BODY, headers=headers
        ) as response:
            assert response.status == 401
        headers["X-TPF-Worker-Signature"] = stamp.signature
        async with http.post(
            str(server.make_url(REST_EXECUTE_PATH)), data=BODY, headers=headers
        ) as response:
            assert response.status == 200
            assert orjson.loads(await response.read())["outcome"] == "COMPLETED"
        assert app[WORKER_REST_SERVER].rejections == {"signature": 1}
    finally:
        await server.close()


class BrokenNonces:
    """A shared nonce store that cannot answer (its database is gone)."""

    async def claim(self, nonce: str, expires_at_ms: int) -> bool:
        raise OSError("disk I/O error")


async def test_a_failing_nonce_store_answers_503_not_401(http: aiohttp.ClientSession) -> None:
    # A failing store says nothing about the caller: not a 401 (which the coordinator reports
    # as a wrong secret), and never accepted unchecked.
    clock = FakeClock()
    handler = FakeHandler()
    app = make_worker_app(handler, Verifier(SECRET, clock, BrokenNonces()), True)
    server = TestServer(app, host="127.0.0.1", port=0)
    await server.start_server()
    try:
        stamp = Signer(SECRET, clock).stamp("POST", REST_EXECUTE_PATH, BODY)
        headers = {
            "X-TPF-Worker-Timestamp": stamp.timestamp,
            "X-TPF-Worker-Nonce": stamp.nonce,
            "X-TPF-Worker-Signature": stamp.signature,
        }
        async with http.post(
            str(server.make_url(REST_EXECUTE_PATH)), data=BODY, headers=headers
        ) as response:
            assert response.status == 503
            error = (await response.json())["error"]
        assert error["code"] == "SIGNATURE_CHECK_UNAVAILABLE"
        assert "disk" not in error["message"]
        assert handler.commands == []
        assert app[WORKER_REST_SERVER].rejections == {"unavailable": 1}
    finally:
        await server.close()
