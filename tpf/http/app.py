"""Assemble the aiohttp application: routes, middlewares and shared state.

:func:`create_app` is the one entry point (``tpf serve`` and the tests use it). The route table
is the union of each module's ``ROUTES``; the same table is registered with the router and
rendered as the OpenAPI document, so the two cannot disagree.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import msgspec
from aiohttp import web

from tpf.config import resolve_secret
from tpf.coordinator import Coordinator
from tpf.core.errors import ConfigError
from tpf.http import (
    admin,
    console,
    control_plane,
    events,
    health,
    metrics,
    openapi,
    operator_routes,
    parse_errors,
)
from tpf.http.auth import GUARD, TokenGuard, auth_middleware
from tpf.http.errors import error_middleware
from tpf.http.wire import EDGE, Edge, Route

ROUTES: tuple[Route, ...] = (
    *control_plane.ROUTES,
    *events.ROUTES,
    *admin.ROUTES,
    *operator_routes.ROUTES,
    *health.ROUTES,
    *metrics.ROUTES,
    *openapi.ROUTES,
)


def create_app(
    coordinator: Coordinator, *, environ: Mapping[str, str] | None = None
) -> web.Application:
    """The REST edge of ``coordinator``; ``environ`` resolves ``env:`` token refs (default
    ``os.environ``)."""
    settings = coordinator.settings
    parse_errors.install()  # malformed requests: one log line each, not a traceback
    env = os.environ if environ is None else environ
    secret = None
    if settings.awaits.resume_token_secret:
        try:
            secret = resolve_secret(settings.awaits.resume_token_secret, env)
        except ConfigError as exc:
            raise ConfigError(f"pipeline.orchestrator.resume-token-secret: {exc.message}") from None
    app = web.Application(
        client_max_size=settings.http.max_body_bytes,
        # Errors outermost, so auth failures render as JSON too.
        middlewares=[error_middleware, auth_middleware(guard := TokenGuard(settings, env))],
    )
    app[GUARD] = guard
    edge = Edge(coordinator, secret)
    app[EDGE] = edge
    for route in ROUTES:
        app.router.add_route(route.method, route.path, route.handler)
    edge.openapi = msgspec.json.encode(openapi.build_document(ROUTES))
    metrics.install(app, env)
    health.install(app)
    console.install(app)

    async def on_shutdown(_: web.Application) -> None:
        edge.shutdown.set()  # long polls answer now rather than holding the shutdown

    app.on_shutdown.append(on_shutdown)
    return app
