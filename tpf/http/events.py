"""The live view: ``GET {cp}/events``, a server-sent event stream of the tenant's changes.

One ``execution`` event per committed change of an execution of the tenant
(``{executionId, status, stepIndex, version, updatedAtEpochMs}``) and ``interaction`` events
``{interactionId, executionId, stepIndex, status}`` on park (``PENDING``), completion, timeout
and cancel, read from this coordinator's change feed (:mod:`tpf.actors.feed`; another
coordinator's commits reach only its own subscribers). A ``: ping`` comment every
:data:`PING_INTERVAL_S` keeps proxies from closing an idle stream and shows a dead client
(the write fails). If the subscriber fell behind and events were dropped, a ``resync`` event
says so: the console then re-reads what it shows instead of trusting a stream with holes.

The route is guarded by the control-plane token like every other: the console reads it with
``fetch`` and the ``Authorization`` header (an ``EventSource`` cannot send headers, and the
long-lived token never goes into a URL).
"""

from __future__ import annotations

import asyncio
import contextlib

import msgspec
from aiohttp import web

from tpf.actors.feed import FeedEvent, Subscription
from tpf.http.control_plane import BASE
from tpf.http.wire import EDGE, Route, Surface, path_text

# How often an idle stream gets a comment (seconds): under common proxies' 30-60 s idle limits.
PING_INTERVAL_S = 15.0
# What an EventSource-style client waits before reconnecting after the stream ends (ms).
RETRY_MS = 3000
EVENT_STREAM = "text/event-stream"


def encode(event: FeedEvent) -> bytes:
    data = msgspec.json.encode(event.data)  # one line: JSON text has no raw newlines
    return b"event: " + event.kind.encode() + b"\ndata: " + data + b"\n\n"


async def events(request: web.Request) -> web.StreamResponse:
    edge = request.app[EDGE]
    tenant_id = path_text(request, "tenantId")
    response = web.StreamResponse(
        headers={
            "Content-Type": EVENT_STREAM,
            "Cache-Control": "no-store",
            # nginx and similar buffer responses unless told not to; a buffered stream is no
            # live view.
            "X-Accel-Buffering": "no",
        }
    )
    with edge.coordinator.engine.feed.subscribe(tenant_id) as subscription:
        await response.prepare(request)
        await response.write(f"retry: {RETRY_MS}\n: connected\n\n".encode())
        with contextlib.suppress(ConnectionResetError):
            await _stream(response, subscription, edge.shutdown)
    return response


async def _stream(
    response: web.StreamResponse, subscription: Subscription, shutdown: asyncio.Event
) -> None:
    stopping = asyncio.ensure_future(shutdown.wait())
    try:
        while not shutdown.is_set():
            if subscription.overflowed:
                subscription.overflowed = False
                await response.write(b'event: resync\ndata: {"reason": "events dropped"}\n\n')
            getter = asyncio.ensure_future(subscription.queue.get())
            done, _ = await asyncio.wait(
                {getter, stopping}, timeout=PING_INTERVAL_S, return_when=asyncio.FIRST_COMPLETED
            )
            if getter not in done:
                getter.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await getter
                if getter.cancelled():
                    if not shutdown.is_set():
                        await response.write(b": ping\n\n")
                    continue
            # Send everything already queued in one write: a burst of commits is one chunk.
            batch = [encode(getter.result())]
            while not subscription.queue.empty():
                batch.append(encode(subscription.queue.get_nowait()))
            await response.write(b"".join(batch))
    finally:
        stopping.cancel()


ROUTES = (
    Route(
        "GET", f"{BASE}/events", events, Surface.CONTROL_PLANE,
        "Server-sent events of the tenant's changes: an 'execution' event per committed "
        "change {executionId, status, stepIndex, version, updatedAtEpochMs}, 'interaction' "
        "events on park and completion, 'resync' when events were dropped for a slow reader, "
        "and a ': ping' comment every 15 s. This coordinator's commits only.",
        media_type=EVENT_STREAM, errors=(400, 401, 404),
    ),
)  # fmt: skip
