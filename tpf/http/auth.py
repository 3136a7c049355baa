"""Bearer-token guard of the control-plane and admin surfaces (spec §2.0, with better errors).

Each surface has its own token: a literal, or a reference (``env:NAME``) resolved on every
request so a rotated secret takes effect without a restart. The order of checks is the
original's: a disabled surface answers 404 before any auth (it does not exist), then a missing,
malformed or wrong token answers 401, an unresolvable reference 503. Tokens are compared in
constant time. The admin token is also accepted on the control plane (an operator's console
reads executions with it, and only it sees their input and outputs); the control-plane token
never opens the admin API. A header that is not UTF-8 text is malformed, a 401 like any other:
aiohttp decodes header bytes with ``surrogateescape``, so such a value only fails when encoded,
which once made it an unauthenticated 500 with a traceback in the log. Health and OpenAPI are
public; metrics are public unless ``tpf.http.metrics-token`` is set (:mod:`tpf.http.metrics`).
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping

from aiohttp import web
from aiohttp.typedefs import Middleware

from tpf.config import resolve_secret
from tpf.config.settings import Settings
from tpf.core.errors import ConfigError, NotFound, TpfError
from tpf.http.wire import Handler, Surface, is_text

_PREFIXES = (
    ("/tpf/control-plane/", Surface.CONTROL_PLANE),
    ("/tpf/admin/", Surface.ADMIN),
)
# What a 401 tells the caller to fix: the flag and environment variable the tpf CLI sends the
# surface's token from (tpf.cli.operator, tpf.config.ClientDefaults).
_CLI_TOKEN_SOURCE = {
    Surface.CONTROL_PLANE: "the tpf CLI sends --token or $TPF_CONTROL_PLANE_TOKEN",
    Surface.ADMIN: "the tpf CLI sends --admin-token or $TPF_ADMIN_TOKEN",
}


class Unauthorized(TpfError):
    code = "UNAUTHORIZED"
    http_status = 401
    retryable = False
    headers = {"WWW-Authenticate": 'Bearer realm="tpf"'}


class Forbidden(TpfError):
    """Authenticated, but this token may not ask for that (``include=`` without admin)."""

    code = "FORBIDDEN"
    http_status = 403
    retryable = False


class TokenUnavailable(TpfError):
    code = "TOKEN_UNAVAILABLE"
    http_status = 503


def surface_of(path: str) -> Surface:
    for prefix, surface in _PREFIXES:
        if path.startswith(prefix) or path == prefix.rstrip("/"):
            return surface
    return Surface.PUBLIC


class TokenGuard:
    """Checks one request against its surface's switch and token."""

    def __init__(self, settings: Settings, environ: Mapping[str, str] | None) -> None:
        self._environ = environ
        self._surfaces = {
            Surface.CONTROL_PLANE: (
                settings.control_plane.enabled,
                settings.control_plane.token or settings.control_plane.token_ref,
                "pipeline.orchestrator.control-plane",
            ),
            Surface.ADMIN: (
                settings.admin.enabled,
                settings.admin.token or settings.admin.token_ref,
                "pipeline.orchestrator.admin",
            ),
        }

    def check(self, request: web.Request) -> None:
        surface = surface_of(request.path)
        if surface is Surface.PUBLIC:
            return
        enabled, configured, key = self._surfaces[surface]
        if not enabled:
            raise NotFound(f"the {surface.value} API is disabled ({key}.enabled=false)")
        expected = self._expected(configured, key)
        header = request.headers.get("Authorization", "")
        scheme, _, given = header.partition(" ")
        hint = f"the token set by {key}.admin-token (or -ref); {_CLI_TOKEN_SOURCE[surface]}"
        if not header:
            raise Unauthorized(f"missing Authorization header: send 'Bearer <token>' with {hint}")
        if not is_text(header) or scheme.lower() != "bearer" or not given.strip():
            raise Unauthorized(f"malformed Authorization header: send 'Bearer <token>' with {hint}")
        # compare_digest on bytes: str arguments must be ASCII, and a header need not be
        # (is_text above made sure it encodes).
        if not hmac.compare_digest(given.strip().encode(), expected.encode()):
            # The operator's admin token reads the control plane too (issue 12: an execution's
            # input and outputs are shown on a control-plane route to the admin token only).
            if surface is Surface.CONTROL_PLANE and self.allows(request, Surface.ADMIN):
                return
            raise Unauthorized(f"invalid bearer token for the {surface.value} API: send {hint}")

    def allows(self, request: web.Request, surface: Surface) -> bool:
        """Whether the request's bearer token is ``surface``'s (for a control-plane route that
        shows more to an admin); never raises for a wrong or missing one."""
        enabled, configured, key = self._surfaces[surface]
        if not enabled or not configured:
            return False
        try:
            expected = self._expected(configured, key)
        except TpfError:
            return False
        header = request.headers.get("Authorization", "")
        scheme, _, given = header.partition(" ")
        if not is_text(header) or scheme.lower() != "bearer" or not given.strip():
            return False
        return hmac.compare_digest(given.strip().encode(), expected.encode())

    def _expected(self, configured: str | None, key: str) -> str:
        if not configured:  # settings validation forbids this; fail closed all the same
            raise TokenUnavailable(f"no token is configured for {key}")
        try:
            return resolve_secret(configured, self._environ)
        except ConfigError as exc:
            raise TokenUnavailable(f"{key} token is unavailable: {exc.message}") from None


GUARD = web.AppKey("tpf.guard", TokenGuard)  # the app's guard, for handlers that ask it


def auth_middleware(guard: TokenGuard) -> Middleware:
    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        guard.check(request)
        return await handler(request)

    return middleware
