"""The one middleware that renders every error as JSON ``{"error": {"code", "message"}}``
(plus ``details`` when the error carries them).

Handlers raise; they never build error responses. A :class:`~tpf.errors.TpfError` answers with
its own status and code; aiohttp's own HTTP errors (unknown route, wrong method, oversized body)
get a JSON body with a stable code; anything else is a bug: logged with its traceback and
answered 500 without internals (the fuzz test asserts it never happens).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiohttp import web

from tpf.core.errors import TpfError
from tpf.http.dto import UNSET, ErrorBody, ErrorDetail
from tpf.http.wire import EDGE, Handler, json_response

LOG = logging.getLogger("tpf.http")

_HTTP_CODES = {
    400: "BAD_REQUEST",
    401: "UNAUTHORIZED",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    413: "PAYLOAD_TOO_LARGE",
    415: "UNSUPPORTED_MEDIA_TYPE",
}


def error_response(
    status: int,
    code: str,
    message: str,
    headers: dict[str, str] | None = None,
    details: dict[str, Any] | None = None,
) -> web.Response:
    detail = ErrorDetail(code=code, message=message, details=details or UNSET)
    response = json_response(ErrorBody(error=detail), status)
    response.headers.update(headers or {})
    return response


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except TpfError as exc:
        # An error class may carry response headers (401's WWW-Authenticate).
        headers = getattr(exc, "headers", None)
        return error_response(exc.http_status, exc.code, exc.message, headers, exc.details)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise  # redirects and the like are not errors
        return _from_http_exception(request, exc)
    except asyncio.CancelledError:
        raise
    except Exception:
        LOG.exception("unhandled error in %s %s", request.method, request.path)
        return error_response(500, "INTERNAL_ERROR", "An unexpected error occurred")


def _from_http_exception(request: web.Request, exc: web.HTTPException) -> web.Response:
    headers: dict[str, str] = {}
    if isinstance(exc, web.HTTPMethodNotAllowed):
        allowed = ", ".join(sorted(exc.allowed_methods))
        headers["Allow"] = allowed
        message = f"{request.method} is not allowed on {request.path}; allowed: {allowed}"
    elif isinstance(exc, web.HTTPNotFound):
        message = f"no route for {request.method} {request.path}"
    elif isinstance(exc, web.HTTPRequestEntityTooLarge):
        limit = request.app[EDGE].coordinator.settings.http.max_body_bytes
        message = f"request body exceeds the limit of {limit} bytes (tpf.http.max-body-bytes)"
    else:
        message = exc.reason
    code = _HTTP_CODES.get(exc.status, f"HTTP_{exc.status}")
    return error_response(exc.status, code, message, headers)
