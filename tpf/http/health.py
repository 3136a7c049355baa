"""Health probes at the Quarkus paths the original's scripts poll (``/q/health/...``).

Live answers as long as the process serves HTTP. Ready answers 200 only while the coordinator
runs (stores open, strict-startup checks passed, supervisors and actors started), so a load
balancer or a demo script waits for it before sending work.
"""

from __future__ import annotations

from aiohttp import web

from tpf.http import dto
from tpf.http.wire import EDGE, Route, Surface, json_response


async def live(request: web.Request) -> web.Response:
    return json_response(dto.HealthDto(status="UP"))


async def ready(request: web.Request) -> web.Response:
    if request.app[EDGE].coordinator.ready:
        return json_response(dto.HealthDto(status="UP"))
    return json_response(dto.HealthDto(status="DOWN"), status=503)


ROUTES = (
    Route(
        "GET", "/q/health/live", live, Surface.PUBLIC, "Liveness", response=dto.HealthDto
    ),
    Route(
        "GET", "/q/health/ready", ready, Surface.PUBLIC,
        "Readiness: 200 while the coordinator runs, 503 before start and after close",
        response=dto.HealthDto, response_statuses=(503,),
    ),
)  # fmt: skip
