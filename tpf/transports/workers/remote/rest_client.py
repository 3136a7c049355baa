"""The coordinator side of the REST protocol (spec §7.3): a signed call to one worker target.

:class:`RestWorkerTransport` posts a command envelope to ``{base_url}/pipeline/worker/
transitions/execute`` (and gets ``.../capabilities``) on one pooled ``aiohttp.ClientSession``,
signed with the original's headers. Anything but a 2xx JSON object is a
:class:`~tpf.transports.workers.remote.contracts.TransportFailure`, always retryable, labelled
with the original's boundary category (spec §7.6):

- ``timeout``: no complete reply within the request (or connect) timeout;
- ``auth``: 401; ``malformed``: 400, or a 2xx whose body is not a JSON object;
- ``unavailable``: connection refused or dropped, 503; ``remote_server``: other 5xx;
- ``protocol``: any other status (404: the worker's REST server is disabled or the URL wrong).

A cancelled call (a lost lease) is not a failure: the cancellation propagates.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import aiohttp
import orjson

from tpf.core.clock import Clock
from tpf.transports.workers.remote.contracts import (
    REST_CAPABILITIES_PATH,
    REST_EXECUTE_PATH,
    TransportFailure,
)
from tpf.transports.workers.remote.rest_server import (
    JSON_TYPE,
    NONCE_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
)
from tpf.transports.workers.remote.signing import Signer

DEFAULT_CONNECT_TIMEOUT_S = 2.0  # PT2S
DEFAULT_REQUEST_TIMEOUT_S = 30.0  # PT30S
_DETAIL_CHARS = 200  # of an error body, in the failure's message


def _category(status: int) -> str:
    if status == 401:
        return "auth"
    if status == 400:
        return "malformed"
    if status == 503:
        return "unavailable"
    if 500 <= status <= 599:
        return "remote_server"
    return "protocol"


class RestWorkerTransport:
    """One REST worker target. ``start()`` opens the pooled session, ``aclose()`` closes it."""

    protocol = "rest"

    def __init__(
        self,
        base_url: str,
        secret: str,
        clock: Clock,
        *,
        connect_timeout_s: float = DEFAULT_CONNECT_TIMEOUT_S,
        request_timeout_s: float = DEFAULT_REQUEST_TIMEOUT_S,
        nonce_factory: Callable[[], str] | None = None,
    ) -> None:
        # The original concatenates {base-url}{path}; a trailing slash would double it.
        self.base_url = base_url.rstrip("/")
        self.connect_timeout_s = connect_timeout_s
        self.request_timeout_s = request_timeout_s
        if nonce_factory is None:
            self._signer = Signer(secret, clock)
        else:  # fixed in tests that replay the original's vectors
            self._signer = Signer(secret, clock, nonce_factory=nonce_factory)
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(
                    total=self.request_timeout_s, connect=self.connect_timeout_s
                )
            )

    async def aclose(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            await session.close()

    async def execute(self, command_envelope: bytes, timeout_s: float | None = None) -> bytes:
        return await self._call("POST", REST_EXECUTE_PATH, command_envelope, timeout_s)

    async def capabilities(self, timeout_s: float | None = None) -> bytes:
        return await self._call("GET", REST_CAPABILITIES_PATH, b"", timeout_s)

    async def _call(self, method: str, path: str, body: bytes, timeout_s: float | None) -> bytes:
        session = self._session
        if session is None:
            raise TransportFailure("unexpected", "REST worker transport is not started")
        stamp = self._signer.stamp(method, path, body)
        headers = {
            TIMESTAMP_HEADER: stamp.timestamp,
            NONCE_HEADER: stamp.nonce,
            SIGNATURE_HEADER: stamp.signature,
            "Accept": JSON_TYPE,
        }
        if body:
            headers["Content-Type"] = JSON_TYPE
        total = self.request_timeout_s if timeout_s is None else timeout_s
        timeout = aiohttp.ClientTimeout(total=total, connect=min(self.connect_timeout_s, total))
        url = self.base_url + path
        try:
            async with session.request(
                method,
                url,
                data=body or None,
                headers=headers,
                timeout=timeout,
                allow_redirects=False,  # the signature covers one fixed path; 3xx is protocol
            ) as response:
                status = response.status
                reply = await response.read()
        except asyncio.CancelledError:
            raise
        except TimeoutError:  # aiohttp's connect/read timeouts are TimeoutErrors too
            raise TransportFailure(
                "timeout", f"{method} {url}: no reply within {total:g}s"
            ) from None
        except aiohttp.ClientPayloadError as exc:
            raise TransportFailure("malformed", f"{method} {url}: unreadable body: {exc}") from None
        except aiohttp.ClientConnectionError as exc:
            raise TransportFailure("unavailable", f"{method} {url}: {exc}") from None
        except aiohttp.ClientError as exc:
            raise TransportFailure("protocol", f"{method} {url}: {exc}") from None
        if not 200 <= status <= 299:
            detail = reply[:_DETAIL_CHARS].decode("utf-8", "replace")
            raise TransportFailure(_category(status), f"{method} {url}: HTTP {status}: {detail}")
        try:
            parsed = orjson.loads(reply)
        except orjson.JSONDecodeError:
            parsed = None
        if not isinstance(parsed, dict):
            raise TransportFailure("malformed", f"{method} {url}: reply is not a JSON object")
        return reply
