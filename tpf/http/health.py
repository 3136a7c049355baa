"""Health probes at the Quarkus paths the original's scripts poll (``/q/health/...``).

Live answers as long as the process serves HTTP: a failing store does not make it DOWN (a
restart would not cure a full disk, and the process still answers). Ready answers 200 only
while the coordinator runs (stores open, strict-startup checks passed, supervisors and actors
started) and its state stores answer (:class:`~tpf.stores.health.Readiness`: DOWN from a store
fault until the store works again, probed at most once a second), so a load balancer or a demo
script sends work only where it can be stored.
"""

from __future__ import annotations

from aiohttp import web

from tpf.http import dto
from tpf.http.wire import EDGE, Route, Surface, json_response
from tpf.stores.health import Readiness

READINESS = web.AppKey("tpf.readiness", Readiness)


async def live(request: web.Request) -> web.Response:
    return json_response(dto.HealthDto(status="UP"))


async def ready(request: web.Request) -> web.Response:
    if request.app[EDGE].coordinator.ready and await request.app[READINESS].ready():
        return json_response(dto.HealthDto(status="UP"))
    return json_response(dto.HealthDto(status="DOWN"), status=503)


def install(app: web.Application) -> None:
    coordinator = app[EDGE].coordinator
    app[READINESS] = Readiness(coordinator.stores.health, coordinator.clock)


ROUTES = (
    Route(
        "GET", "/q/health/live", live, Surface.PUBLIC, "Liveness", response=dto.HealthDto
    ),
    Route(
        "GET", "/q/health/ready", ready, Surface.PUBLIC,
        "Readiness: 200 while the coordinator runs and its state store answers; 503 before "
        "start, after close and while the store is failing",
        response=dto.HealthDto, response_statuses=(503,),
    ),
)  # fmt: skip
