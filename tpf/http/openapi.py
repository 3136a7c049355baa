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
from tpf.http.wire import EDGE, JSON, Route, Surface

_REF = "#/components/schemas/{name}"
_PATH_PARAM = re.compile(r"\{(\w+)\}")
_SECURITY = {Surface.CONTROL_PLANE: "controlPlaneToken", Surface.ADMIN: "adminToken"}
_PATH_DESCRIPTIONS = {
    "releaseVersion": "A release version; may contain ':' (e.g. sha256:<hex>)",
}
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
                "schema": {"type": "string"},
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
                "schema": {"type": p.type},
            }
            for p in route.query
        ],
        "responses": {"200": _success(route, schema_of)},
    }
    if route.surface in _SECURITY:
        op["security"] = [{_SECURITY[route.surface]: []}]
    if route.request is not None:
        content = {JSON: {"schema": schema_of[route.request]}}
        if route.multipart:
            content["multipart/form-data"] = {"schema": _MULTIPART_SCHEMA}
        op["requestBody"] = {"required": not route.body_optional, "content": content}
    for status in sorted(route.errors):
        op["responses"][str(status)] = {
            "description": HTTPStatus(status).phrase,
            "content": {JSON: {"schema": schema_of[dto.ErrorBody]}},
        }
    return op


def _success(route: Route, schema_of: dict[Any, Any]) -> dict[str, Any]:
    if route.response is None:
        schema: dict[str, Any] = (
            {"type": "object"} if route.media_type == JSON else {"type": "string"}
        )
    elif typing.get_origin(route.response) is list:
        schema = {"type": "array", "items": schema_of[_item_type(route.response)]}
    else:
        schema = schema_of[route.response]
    return {"description": "OK", "content": {route.media_type: {"schema": schema}}}


async def document(request: web.Request) -> web.Response:
    return web.Response(body=request.app[EDGE].openapi, content_type=JSON)


ROUTES = (Route("GET", "/q/openapi", document, Surface.PUBLIC, "This OpenAPI document"),)
