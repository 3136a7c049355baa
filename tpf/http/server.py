"""Run the REST edge on a TCP port until cancelled (what ``tpf serve`` sits on).

:func:`serve` owns only the HTTP listener: the caller opens, starts and closes the coordinator.
On cancellation the listener stops accepting, open long polls answer at once with the current
state, in-flight requests finish, and the runner is cleaned up.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping

from aiohttp import web

from tpf.coordinator import Coordinator
from tpf.engine.logs import ACCESS_LOGGER
from tpf.http.app import create_app

# In-flight requests get this long to finish once shutdown begins (long polls answer at once).
SHUTDOWN_TIMEOUT_S = 10.0


async def serve(
    coordinator: Coordinator,
    *,
    host: str,
    port: int,
    started: Callable[[int], None] | None = None,
    environ: Mapping[str, str] | None = None,
    access_log: bool = False,
) -> None:
    """Serve ``coordinator`` on ``host:port`` (0: an ephemeral port, reported to ``started``).

    ``access_log``: one INFO line per request on the ``aiohttp.access`` logger (off by default:
    at the REST benchmark's rates it would be most of the log).
    """
    app = create_app(coordinator, environ=environ)
    access_logger = logging.getLogger(ACCESS_LOGGER) if access_log else None
    runner = web.AppRunner(app, access_log=access_logger, shutdown_timeout=SHUTDOWN_TIMEOUT_S)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        await site.start()
        if started is not None:
            started(_bound_port(runner))
        await asyncio.Event().wait()  # until cancelled
    finally:
        await runner.cleanup()


def _bound_port(runner: web.AppRunner) -> int:
    address = runner.addresses[0]
    # IPv4 gives (host, port), IPv6 (host, port, flow, scope).
    return int(address[1])
