"""The OpenAPI 3.1 document at ``/q/openapi``, generated from the route table.

Every :class:`~tpf.http.wire.Route` the app serves is rendered here, with its path and query
parameters, request body, success response and error responses, and the schemas come from
the very msgspec types the handlers decode and encode (``msgspec.json.schema_components``), so
the document describes what the server does, not what someone remembered to write down.
"""

from __future__ import annotations

import re
import typing
from collections.abc import Sequence
from http import HTTPStatus
from typing import Any

import msgspec
from aiohttp import web

from tpf.http import dto
from tpf.http.wire import EDGE, JSON, MAX_INT_DIGITS, Param, Route, Surface

_REF = "#/components/schemas/{name}"
_PATH_PARAM = re.compile(r"\{(\w+)\}")
_SECURITY = {Surface.CONTROL_PLANE: "controlPlaneToken", Surface.ADMIN: "adminToken"}
_PATH_DESCRIPTIONS = {
    "releaseVersion": "A release version; may contain ':' (e.g. sha256:<hex>)",
}
# What str.strip() removes, as a regex class: \s in a JSON Schema (ECMA) regex, plus the four
# information separators Python also counts as whitespace.
_SPACE = r"\s\x1c-\x1f"
# path_text trims a path parameter and answers 400 when nothing is left.
_NOT_BLANK = {"type": "string", "pattern": f"[^{_SPACE}]"}
# query_text reads a blank query parameter as an absent one (the original's `?limit=`).
_BLANK = {"type": "string", "pattern": f"^[{_SPACE}]*$"}
_LARGEST_INT = 10**MAX_INT_DIGITS - 1
_BODY_AS_JSON = "Read as JSON whatever its Content-Type"
_BODY_OR_UPLOAD = "A multipart/form-data body is an upload; any other is read as JSON"
_MULTIPART_SCHEMA = {
    "type": "object",
    "required": ["descriptor"],
    "properties": {
        "descriptor": {
            "type": "string",
            "format": "binary",
            "description": "pipeline-release.json",
        }
    },
    "additionalProperties": {
        "type": "string",
        "format": "binary",
        "description": "An artifact, named after its artifactId or the basename of its uri",
    },
}


def _item_type(kind: Any) -> Any:
    """``X`` for ``list[X]``, else ``kind`` itself."""
    return typing.get_args(kind)[0] if typing.get_origin(kind) is list else kind


def build_document(routes: Sequence[Route], *, title: str = "tpf coordinator") -> dict[str, Any]:
    kinds: list[Any] = [dto.ErrorBody]
    for route in routes:
        for kind in (route.request, route.response):
            if kind is not None and _item_type(kind) not in kinds:
                kinds.append(_item_type(kind))
    schemas, components = msgspec.json.schema_components(kinds, ref_template=_REF)
    schema_of = dict(zip(kinds, schemas, strict=True))
    paths: dict[str, dict[str, Any]] = {}
    for route in routes:
        paths.setdefault(route.path, {})[route.method.lower()] = _operation(route, schema_of)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": title,
            "version": "1",
            "description": (
                "Control-plane and admin API of the durable coordinator, wire-compatible with "
                'the original TPF; errors are JSON {"error": {"code", "message"}}.'
            ),
        },
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {
                name: {"type": "http", "scheme": "bearer"} for name in _SECURITY.values()
            },
        },
    }


def _operation(route: Route, schema_of: dict[Any, Any]) -> dict[str, Any]:
    op: dict[str, Any] = {
        "operationId": route.handler.__name__,
        "summary": route.summary,
        "tags": [route.surface.value],
        "parameters": [
            {
                "name": name,
                "in": "path",
                "required": True,
                "schema": _NOT_BLANK,
                **({"description": _PATH_DESCRIPTIONS[name]} if name in _PATH_DESCRIPTIONS else {}),
            }
            for name in _PATH_PARAM.findall(route.path)
        ]
        + [
            {
                "name": p.name,
                "in": "query",
                "required": False,
                "description": p.description,
                "schema": _query_schema(p),
            }
            for p in route.query
        ],
        "responses": {
            str(status): _success(route, schema_of, status)
            for status in (200, *route.response_statuses)
        },
    }
    if route.surface in _SECURITY:
        op["security"] = [{_SECURITY[route.surface]: []}]
    if route.request is not None:
        content = {JSON: {"schema": schema_of[route.request]}}
        if route.multipart:
            content["multipart/form-data"] = {"schema": _MULTIPART_SCHEMA}
        op["requestBody"] = {
            "required": not route.body_optional,
            "description": _BODY_OR_UPLOAD if route.multipart else _BODY_AS_JSON,
            "content": content,
        }
    for status in sorted({*route.errors, *_implied_errors(route)} - {*route.response_statuses}):
        op["responses"][str(status)] = {
            "description": HTTPStatus(status).phrase,
            "content": {JSON: {"schema": schema_of[dto.ErrorBody]}},
        }
    return op


def _query_schema(param: Param) -> dict[str, Any]:
    if param.choices:
        return {"anyOf": [{"type": "string", "enum": list(param.choices)}, _BLANK]}
    if param.type != "integer":
        return {"type": param.type}
    low = -_LARGEST_INT if param.minimum is None else param.minimum
    return {"anyOf": [{"type": "integer", "minimum": low, "maximum": _LARGEST_INT}, _BLANK]}


def _implied_errors(route: Route) -> set[int]:
    """The statuses a route answers whatever its handler does, so no route table has to
    remember them: the token guard's (401 bad token, 404 surface disabled, 503 token
    reference unresolvable), a body's (400 malformed, 413 too large) and a parameter's (400)."""
    statuses: set[int] = set()
    if route.surface in _SECURITY:
        statuses |= {401, 404, 503}
    if route.request is not None:
        statuses |= {400, 413}
    if route.query or _PATH_PARAM.search(route.path):
        statuses.add(400)
    return statuses


def _success(route: Route, schema_of: dict[Any, Any], status: int = 200) -> dict[str, Any]:
    if route.response is None:
        schema: dict[str, Any] = (
            {"type": "object"} if route.media_type == JSON else {"type": "string"}
        )
    elif typing.get_origin(route.response) is list:
        schema = {"type": "array", "items": schema_of[_item_type(route.response)]}
    else:
        schema = schema_of[route.response]
    description = HTTPStatus(status).phrase
    return {"description": description, "content": {route.media_type: {"schema": schema}}}


async def document(request: web.Request) -> web.Response:
    return web.Response(body=request.app[EDGE].openapi, content_type=JSON)


ROUTES = (Route("GET", "/q/openapi", document, Surface.PUBLIC, "This OpenAPI document"),)
