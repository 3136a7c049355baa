"""Prometheus metrics at ``/q/metrics``: the route, its optional token, one registry per app.

Each app has a private ``CollectorRegistry`` holding one
:class:`~tpf.http.metrics.collector.CoordinatorCollector`: nothing global, so several
coordinators (tests) in one process never collide. The metric families and what a scrape reads
are described in :mod:`tpf.http.metrics.collector` and :mod:`tpf.http.metrics.snapshot`; a
scrape costs O(statuses + pipelines) store reads (kept counts and limit-1 index reads), never
a listing of executions, so scrapers cannot slow down the SQLite thread submits share. With
``tpf.http.metrics-token`` set the route needs ``Authorization: Bearer <token>`` (401 without),
like the API surfaces, its value a literal or ``env:NAME`` resolved per request.
"""

from __future__ import annotations

from collections.abc import Mapping

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from tpf.config import resolve_secret
from tpf.coordinator import Coordinator
from tpf.core.bearer import bearer_refusal
from tpf.core.errors import ConfigError
from tpf.http.auth import TokenUnavailable, Unauthorized
from tpf.http.metrics.collector import CoordinatorCollector
from tpf.http.wire import EDGE, Route, Surface

_TOKEN_KEY = "tpf.http.metrics-token"


class Metrics:
    """One app's registry and collector, and the route's optional token."""

    def __init__(self, coordinator: Coordinator, environ: Mapping[str, str]) -> None:
        self.collector = CoordinatorCollector(coordinator)
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(self.collector)
        self._token = coordinator.settings.http.metrics_token
        self._environ = environ

    def authorize(self, request: web.Request) -> None:
        """Refuse the scrape unless it carries the configured token (when one is set)."""
        if not self._token:
            return
        try:
            expected = resolve_secret(self._token, self._environ)
        except ConfigError as exc:
            raise TokenUnavailable(f"{_TOKEN_KEY} is unavailable: {exc.message}") from None
        hint = f"send 'Authorization: Bearer <token>' with the token set by {_TOKEN_KEY}"
        header = request.headers.get("Authorization", "")
        refusal = bearer_refusal(header, expected, route="/q/metrics", hint=hint)
        if refusal is not None:
            raise Unauthorized(refusal)

    async def render(self) -> bytes:
        await self.collector.refresh()
        return generate_latest(self.registry)


METRICS = web.AppKey("tpf.metrics", Metrics)


async def metrics(request: web.Request) -> web.Response:
    edge_metrics = request.app[METRICS]
    edge_metrics.authorize(request)
    body = await edge_metrics.render()
    response = web.Response(body=body)
    response.headers["Content-Type"] = CONTENT_TYPE_LATEST
    return response


def install(app: web.Application, environ: Mapping[str, str]) -> None:
    app[METRICS] = Metrics(app[EDGE].coordinator, environ)


ROUTES = (
    Route(
        "GET",
        "/q/metrics",
        metrics,
        Surface.PUBLIC,
        "Prometheus metrics (with tpf.http.metrics-token set: Bearer token required)",
        media_type="text/plain",
        errors=(401,),
    ),
)
