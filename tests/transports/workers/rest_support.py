"""A REST worker on 127.0.0.1 (port 0) over a fake handler, for the REST protocol tests.

The fake stands in for the envelope codec's handler (built elsewhere): it records what reached
it and answers canned bytes, or raises what a test asks for, or waits on an event that only the
fixture's teardown sets (so a timeout test never waits on real time, and the server still closes
promptly).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from aiohttp import web
from aiohttp.test_utils import TestServer
from multidict import CIMultiDictProxy

from tpf.core.clock import FakeClock
from tpf.transports.workers.remote.nonces import MemoryNonceGuard
from tpf.transports.workers.remote.rest_server import WorkerRestServer
from tpf.transports.workers.remote.signing import Verifier, parse_instant

SECRET = "worker-secret"
TS = "2026-01-01T00:00:00Z"
NONCE = "00000000-0000-0000-0000-000000000001"
BODY = b'{"tenantId":"tenant-1"}'
EXECUTE_VECTOR = "dee08d0dde333aead7cbcf2f6fa36bd9a1e9433357c90bda0c9878f09155bc5a"
CAPABILITIES_VECTOR = "59e0a2fc8faa529eb4d7b660c0e552a34724e7946dd6d4e82957d0883558a998"
RESULT = b'{"outcome":"COMPLETED","outputPayloads":[]}'
CAPABILITY = b'{"protocolVersion":"1","providerName":"rest"}'


@dataclass
class FakeHandler:
    result: bytes = RESULT
    raises: Exception | None = None
    hang: bool = False
    commands: list[bytes] = field(default_factory=list)
    providers: list[str] = field(default_factory=list)
    entered: asyncio.Event = field(default_factory=asyncio.Event)
    release: asyncio.Event = field(default_factory=asyncio.Event)

    async def execute(self, command_envelope: bytes) -> bytes:
        self.commands.append(command_envelope)
        return await self._answer(self.result)

    async def capabilities(self, provider_name: str) -> bytes:
        self.providers.append(provider_name)
        return await self._answer(CAPABILITY)

    async def _answer(self, answer: bytes) -> bytes:
        self.entered.set()
        if self.hang:
            await self.release.wait()
        if self.raises is not None:
            raise self.raises
        return answer


@dataclass
class Worker:
    url: str
    handler: FakeHandler
    clock: FakeClock
    server: WorkerRestServer
    seen_headers: list[CIMultiDictProxy[str]]
    seen_peers: list[object]  # each request's client (host, port)


def original_clock() -> FakeClock:
    return FakeClock(parse_instant(TS))


@asynccontextmanager
async def rest_worker(
    handler: FakeHandler | None = None,
    *,
    clock: FakeClock | None = None,
    secret: str | None = SECRET,
    enabled: bool = True,
    max_body_bytes: int = 1024,
) -> AsyncIterator[Worker]:
    """A worker app with the routes added to an app that has a route of its own (as the worker
    process's /q/health), served on a free port; its requests' headers are recorded."""
    fake = handler or FakeHandler()
    clock = clock or original_clock()
    verifier = None if secret is None else Verifier(secret, clock, MemoryNonceGuard(clock))
    server = WorkerRestServer(fake, verifier, enabled, max_body_bytes=max_body_bytes)
    seen: list[CIMultiDictProxy[str]] = []
    peers: list[object] = []

    @web.middleware
    async def record(request: web.Request, handler: web.Handler) -> web.StreamResponse:
        seen.append(request.headers)
        peers.append(request.transport.get_extra_info("peername") if request.transport else None)
        return await handler(request)

    async def health(_: web.Request) -> web.Response:
        return web.json_response({"status": "UP"})

    app = web.Application(middlewares=[record])
    app.router.add_get("/q/health", health)
    server.add_routes(app)
    test_server = TestServer(app, host="127.0.0.1", port=0)
    await test_server.start_server()
    try:
        yield Worker(str(test_server.make_url("")).rstrip("/"), fake, clock, server, seen, peers)
    finally:
        fake.release.set()  # a hanging handler returns, so the server closes at once
        await test_server.close()
