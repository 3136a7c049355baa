"""Headers no client library would send, over a raw socket: never a 500, never a traceback.

HTTP client libraries refuse to send a header that is not text, so these requests are written
byte by byte. A non-UTF-8 ``Authorization`` header once answered an unauthenticated 500 and
logged a traceback per request (anyone could flood the log); it is a 401 like any malformed
header. ``Idempotency-Key`` is the other header the edge reads; a request aiohttp cannot even
parse is answered by aiohttp itself, with one log line instead of its traceback.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass

import pytest

from demos.restaurant_approval.pipeline import PIPELINE_ID
from tests.http.conftest import (
    ADMIN_TOKEN,
    CP,
    CP_TOKEN,
    RELEASES,
    Api,
    ApiFactory,
    order_envelope,
)


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    def error(self) -> dict[str, str]:
        """The ``error`` member of the edge's JSON error shape."""
        assert self.headers["content-type"].startswith("application/json"), self
        document = json.loads(self.body)
        assert set(document) == {"error"}, document
        assert {"code", "message"} <= set(document["error"]), document
        error: dict[str, str] = document["error"]
        return error


async def send(api: Api, request_line: bytes, headers: list[bytes], body: bytes = b"") -> Answer:
    """Write one request exactly as given and read the answer (the server closes after it)."""
    port = api.client.server.port
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        lines = [
            request_line,
            b"Host: 127.0.0.1",
            b"Connection: close",
            b"Content-Length: %d" % len(body),
            *headers,
        ]
        writer.write(b"\r\n".join(lines) + b"\r\n\r\n" + body)
        await writer.drain()
        async with asyncio.timeout(10):
            raw = await reader.read()
    finally:
        writer.close()
        await writer.wait_closed()
    head, _, payload = raw.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    fields = dict(line.split(": ", 1) for line in header_lines)
    return Answer(int(status_line.split()[1]), {k.lower(): v for k, v in fields.items()}, payload)


def assert_no_traceback(caplog: pytest.LogCaptureFixture) -> None:
    assert "Traceback" not in caplog.text
    assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]


@pytest.mark.parametrize(
    "authorization",
    [
        b"Bearer \xff\xfe",  # not UTF-8 at all
        b"Bearer " + CP_TOKEN.encode() + b"\xc3",  # the right token, then a broken sequence
        b"Bearer " + ADMIN_TOKEN.encode() + b"\x80",
        b"B\xe9arer token",  # a Latin-1 byte in the scheme
    ],
)
@pytest.mark.parametrize(
    "target",
    [
        b"GET " + CP.encode() + b"/executions/some-id HTTP/1.1",
        b"GET " + RELEASES.encode() + b" HTTP/1.1",
    ],
)
async def test_a_non_utf8_authorization_header_is_a_401_without_a_traceback(
    api: Api, caplog: pytest.LogCaptureFixture, authorization: bytes, target: bytes
) -> None:
    caplog.set_level(logging.DEBUG)
    answer = await send(api, target, [b"Authorization: " + authorization])
    assert answer.status == 401, answer
    error = answer.error()
    assert error["code"] == "UNAUTHORIZED"
    assert error["message"].startswith("malformed Authorization header: send 'Bearer <token>'")
    assert answer.headers["www-authenticate"] == 'Bearer realm="tpf"'
    assert_no_traceback(caplog)


async def test_an_idempotency_key_header_that_is_not_utf8_is_a_400(
    make_api: ApiFactory, caplog: pytest.LogCaptureFixture
) -> None:
    # On SQLite the key reaches the database, whose encoder refused it: a 500 with a traceback.
    api = await make_api(
        state__provider="sqlite",
        releases__registry_provider="file",
        workers__lifecycle_provider="sqlite",
    )
    await api.release()
    caplog.set_level(logging.DEBUG)
    body = json.dumps(
        {"pipelineId": PIPELINE_ID, "inputShape": "UNI", "inputPayload": order_envelope()}
    ).encode()
    headers = [
        b"Authorization: Bearer " + CP_TOKEN.encode(),
        b"Content-Type: application/json",
        b"Idempotency-Key: order-\xff\xfe",
    ]
    answer = await send(api, b"POST " + CP.encode() + b"/executions HTTP/1.1", headers, body)
    assert answer.status == 400, answer
    assert answer.error()["message"] == "Idempotency-Key header: must be UTF-8 text"
    assert_no_traceback(caplog)
    # A UTF-8 key that is not ASCII is a key like any other.
    headers[-1] = "Idempotency-Key: commande-été".encode()
    answer = await send(api, b"POST " + CP.encode() + b"/executions HTTP/1.1", headers, body)
    assert answer.status == 200, answer


@pytest.mark.parametrize(
    ("request_line", "header"),
    [
        (b"GET " + CP.encode() + b"/executions/x HTTP/1.1", b"Authorization: Bearer a\x01b"),
        (b"GET " + CP.encode() + b"/executions/x HTTP/1.1", b"Authorization: Bearer secret\x00"),
        (b"GET " + CP.encode() + b"/executions/\xff HTTP/1.1", b"X-Any: 1"),
        (b"GET /q/health/live HTTP/1.1", b"Bad Header Name: 1"),
    ],
)
async def test_a_request_aiohttp_cannot_parse_is_one_log_line(
    api: Api, caplog: pytest.LogCaptureFixture, request_line: bytes, header: bytes
) -> None:
    caplog.set_level(logging.DEBUG)
    answer = await send(api, request_line, [header])
    assert answer.status == 400, answer
    assert_no_traceback(caplog)
    [line] = [r for r in caplog.records if r.name == "aiohttp.server"]
    assert line.levelno == logging.INFO
    message = line.getMessage()
    assert message.startswith("malformed HTTP request from 127.0.0.1 answered 400: ")
    assert "\n" not in message and "secret" not in message  # no client bytes quoted
