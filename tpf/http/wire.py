"""What every handler shares: the route table entry, body decoding, path/query parsing, encoding.

Handlers stay thin by leaning on these helpers: :func:`decode_body` turns any malformed or
mistyped JSON into a :class:`~tpf.errors.ValidationError` whose message starts with the
offending field (``inputPayload: Expected object, got str``), and :func:`json_response` encodes
a DTO with msgspec. A :class:`Route` describes one endpoint once; the app registers it and the
OpenAPI document is rendered from it.
"""

from __future__ import annotations

import asyncio
import enum
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import msgspec
from aiohttp import web

from tpf.coordinator import Coordinator
from tpf.core.errors import ValidationError
from tpf.core.json_depth import check_depth

T = TypeVar("T")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
JSON = "application/json"

_encoder = msgspec.json.Encoder()
# A command route asks an actor; one that does not answer within ask-timeout is a 504.
ASK_TIMEOUT = 504
# query_int reads at most this many digits, so a huge number is a 400, not a slow int().
MAX_INT_DIGITS = 18


@dataclass
class Edge:
    """What the handlers of one app share (``request.app[EDGE]``)."""

    coordinator: Coordinator
    resume_secret: str | None  # resolved once at startup
    # Set when the server begins to shut down: long polls answer at once instead of holding it.
    shutdown: asyncio.Event = field(default_factory=asyncio.Event)
    openapi: bytes = b""  # the rendered OpenAPI document, built once with the app


EDGE = web.AppKey("tpf.edge", Edge)


class Surface(enum.StrEnum):
    """Which token guards a route (and which switch turns it off)."""

    CONTROL_PLANE = "control-plane"
    ADMIN = "admin"
    PUBLIC = "public"


@dataclass(frozen=True)
class Param:
    """A query parameter, documented in OpenAPI."""

    name: str
    description: str
    type: str = "string"  # OpenAPI scalar type
    minimum: int | None = None  # for an integer, what query_int is given as ``minimum``
    choices: tuple[str, ...] = ()  # for a string, the values query_choice accepts


@dataclass(frozen=True)
class Route:
    """One endpoint: how to serve it and how to document it."""

    method: str
    path: str
    handler: Handler
    surface: Surface
    summary: str
    request: type | None = None  # JSON body type
    body_optional: bool = False
    multipart: bool = False  # also accepts multipart/form-data (documented by openapi.py)
    response: Any = None  # DTO type (``list[X]`` for arrays); None: not JSON
    media_type: str = JSON
    query: tuple[Param, ...] = ()
    errors: tuple[int, ...] = ()
    # Statuses besides 200 answered with ``response`` rather than the error shape (readiness'
    # 503 {"status": "DOWN"}).
    response_statuses: tuple[int, ...] = ()


# --------------------------------------------------------------------------- responses


def json_response(body: Any, status: int = 200) -> web.Response:
    return web.Response(body=_encoder.encode(body), status=status, content_type=JSON)


# --------------------------------------------------------------------------- requests


async def decode_body(request: web.Request, kind: type[T], *, optional: bool = False) -> T:
    """The request body decoded into ``kind``; an empty body is the defaults when ``optional``."""
    # A declared length past the limit is refused before reading: read() only counts what
    # arrives, so it would first wait for a body the client may never send.
    if request.content_length is not None and request.content_length > request.client_max_size:
        raise web.HTTPRequestEntityTooLarge(
            max_size=request.client_max_size, actual_size=request.content_length
        )
    body = await request.read()  # raises 413 past client_max_size
    if not body.strip():
        if optional:
            return msgspec.json.decode(b"{}", type=kind)
        raise ValidationError("request body is required (a JSON object)")
    limit = request.app[EDGE].coordinator.settings.http.max_json_depth
    check_depth(body, limit)  # before decoding: a deep body would exhaust the decoder's stack
    try:
        return msgspec.json.decode(body, type=kind)
    except msgspec.ValidationError as exc:
        raise ValidationError(describe_validation_error(exc)) from None
    except msgspec.DecodeError as exc:
        raise ValidationError(f"malformed JSON: {exc}", code="MALFORMED_JSON") from None
    except RecursionError:  # a limit set above what the stack allows still answers 400
        raise ValidationError(f"request body: JSON nested too deeply (limit {limit})") from None


_AT = re.compile(r"(?P<what>.*) - at \$(?P<path>.*)", re.DOTALL)
_MISSING = re.compile(r"Object missing required field (?P<field>.+)")
_UNKNOWN = re.compile(r"Object contains unknown field (?P<field>.+)")


def describe_validation_error(exc: msgspec.ValidationError) -> str:
    """msgspec's message rephrased to lead with the field: ``inputShape: Invalid enum ...``."""
    text = str(exc).replace("`", "")
    match = _AT.fullmatch(text)
    what, path = (match["what"], match["path"].lstrip(".")) if match else (text, "")
    if missing := _MISSING.fullmatch(what):
        return f"{_join(path, missing['field'])} is required"
    if unknown := _UNKNOWN.fullmatch(what):
        return f"{_join(path, unknown['field'])}: unknown field"
    return f"{path}: {what}" if path else f"request body: {what}"


def _join(path: str, field: str) -> str:
    return f"{path}.{field}" if path else field


def path_text(request: web.Request, name: str) -> str:
    """A path parameter, trimmed; blank is a 400 naming it (the original's wording)."""
    value = request.match_info.get(name, "").strip()
    if not value:
        raise ValidationError(f"{name} is required")
    return value


def is_text(value: str) -> bool:
    """Whether a header value aiohttp decoded is UTF-8 text.

    aiohttp decodes header bytes as UTF-8 with ``surrogateescape``: a byte that is not UTF-8
    becomes a lone surrogate, which every later ``encode()`` (a digest, a store) refuses.
    """
    try:
        value.encode()
    except UnicodeEncodeError:
        return False
    return True


def header_text(request: web.Request, name: str) -> str | None:
    """A request header, or ``None`` when absent; a value that is not UTF-8 text is a 400."""
    value = request.headers.get(name)
    if value is not None and not is_text(value):
        raise ValidationError(f"{name} header: must be UTF-8 text")
    return value


def query_text(request: web.Request, name: str) -> str | None:
    """A query parameter, or ``None`` when absent or blank (blank filters mean "any")."""
    value = request.query.get(name)
    return value.strip() or None if value is not None else None


def query_choice(request: web.Request, param: Param, default: str) -> str:
    """One of ``param.choices``, ``default`` when absent or blank; any other value is a 400."""
    text = query_text(request, param.name)
    if text is None:
        return default
    if text not in param.choices:
        raise ValidationError(
            f"{param.name}: must be one of {', '.join(param.choices)}, got {text!r}"
        )
    return text


def query_int(request: web.Request, name: str, *, minimum: int | None = None) -> int | None:
    """An integer query parameter, ``None`` when absent; anything else non-integer is a 400."""
    text = query_text(request, name)
    if text is None:
        return None
    if not re.fullmatch(rf"[+-]?[0-9]{{1,{MAX_INT_DIGITS}}}", text):
        raise ValidationError(f"{name}: must be an integer, got {text!r}")
    value = int(text)
    if minimum is not None and value < minimum:
        raise ValidationError(f"{name}: must be at least {minimum}, got {value}")
    return value
