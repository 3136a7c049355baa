"""Fuzz every route over real HTTP: malformed and random input never yields a 500 or a crash.

A coordinator with the restaurant release serves on 127.0.0.1 from a background thread (its own
event loop), so hypothesis drives plain synchronous HTTP requests at it. Bodies are random
bytes, random JSON, and "nearly valid" objects built from each route's msgspec request type
(right field names, random values, payload envelopes with random type ids and texts), which
reach past decoding into the coordinator. Every answer must be below 500, and every error
must be the JSON error shape. ``TPF_FUZZ_EXAMPLES`` raises the example count for a longer run
(3000 per test found nothing at the time of writing).
"""

from __future__ import annotations

import http.client
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.http.conftest import ADMIN_TOKEN, CP_TOKEN, PIPELINE_ID, TENANT
from tests.http.threaded import ORDER, Served, served_in_thread
from tpf.http.app import ROUTES

FUZZ = settings(
    max_examples=int(os.environ.get("TPF_FUZZ_EXAMPLES", "150")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    tmp = tmp_path_factory.mktemp("fuzz")
    with served_in_thread(tmp, http__max_wait_ms=20, http__max_upload_bytes=64_000) as info:
        yield info


# --------------------------------------------------------------------------- strategies

QUERY_NAMES = [
    "waitMs",
    "until",
    "limit",
    "assignee",
    "group",
    "stepId",
    "contractVersion",
    "releaseVersion",
]
DESCRIPTOR = {
    "schemaVersion": 1,
    "pipelineId": PIPELINE_ID,
    "contractVersion": "c",
    "releaseVersion": "v",
    "artifacts": [
        {"artifactId": "a", "kind": "jar", "uri": "a.tpfa", "digest": "sha256:" + "0" * 64}
    ],
}

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=False),
    st.text(max_size=20),
)
json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=12,
)
type_ids = st.one_of(
    st.none(),
    st.sampled_from(
        [
            "java.util.Map",
            "java.util.List",
            "java.lang.Long",
            "java.lang.String",
            "null",
            "java.math.BigDecimal",
            "org.pipelineframework.restaurantapproval.common.dto.PlaceRestaurantOrderRequestDto",
        ]
    ),
    st.text(max_size=10),
)
envelopes = st.fixed_dictionaries(
    {"payloadTypeId": type_ids, "payload": st.one_of(json_values.map(json.dumps), st.text())},
    optional={"payloadEncoding": st.sampled_from(["application/tpf-transition+json", "x"])},
)
field_values = st.one_of(json_values, envelopes, st.just(ORDER))


def nearly_valid(kind: type) -> st.SearchStrategy[Any]:
    """Objects with ``kind``'s wire field names (a random subset) and random values."""
    names = [f.encode_name for f in msgspec.structs.fields(kind)]
    return st.dictionaries(st.sampled_from(names), field_values, max_size=len(names))


def _path_values(served: Served) -> dict[str, st.SearchStrategy[str]]:
    noise = st.text(min_size=1, max_size=12)
    return {
        "tenantId": st.one_of(st.just(TENANT), noise),
        "pipelineId": st.one_of(st.just(PIPELINE_ID), noise),
        "executionId": st.one_of(noise, st.uuids().map(str)),
        "releaseVersion": st.one_of(st.just(served.release_version), noise),
        "workerId": st.one_of(st.just("w-1"), noise),
        "interactionId": st.one_of(st.just(served.interaction_id), noise, st.uuids().map(str)),
    }


def _bodies(route: Any) -> st.SearchStrategy[bytes]:
    options = [st.binary(max_size=200), json_values.map(lambda v: json.dumps(v).encode())]
    if route.request is not None:
        options.append(nearly_valid(route.request).map(lambda v: json.dumps(v).encode()))
    return st.one_of(*options)


def _request(
    served: Served, method: str, path: str, body: bytes, headers: dict[str, str]
) -> tuple[int, bytes, str]:
    connection = http.client.HTTPConnection("127.0.0.1", served.port, timeout=10)
    try:
        connection.request(method, path, body=body or None, headers=headers)
        response = connection.getresponse()
        content_type = response.getheader("Content-Type") or ""
        if response.status == 200 and content_type.startswith("text/event-stream"):
            # An accepted event stream never ends: its status and type are the answer.
            return response.status, b"", content_type
        return response.status, response.read(), content_type
    finally:
        connection.close()


def _check(status: int, body: bytes, content_type: str, what: Any) -> None:
    assert status < 500, (status, body[:500], what)
    if status >= 400:
        assert content_type.startswith("application/json"), (status, content_type, what)
        error = json.loads(body)["error"]
        assert isinstance(error["code"], str) and isinstance(error["message"], str)


# --------------------------------------------------------------------------- tests


@FUZZ
@given(data=st.data())
def test_random_requests_to_every_route_never_500(served: Served, data: st.DataObject) -> None:
    route = data.draw(st.sampled_from(ROUTES), label="route")
    values = _path_values(served)
    path = route.path
    for name in [part[1:-1] for part in route.path.split("/") if part.startswith("{")]:
        path = path.replace("{" + name + "}", quote(data.draw(values[name], label=name), safe=""))
    query = data.draw(
        st.dictionaries(
            st.sampled_from(QUERY_NAMES),
            st.one_of(st.integers(-5, 30).map(str), st.text(max_size=8)),
            max_size=3,
        ),
        label="query",
    )
    if query:
        path += "?" + "&".join(f"{k}={quote(v, safe='')}" for k, v in query.items())
    token = CP_TOKEN if route.path.startswith("/tpf/control-plane") else ADMIN_TOKEN
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    if data.draw(st.booleans(), label="multipart"):
        headers["Content-Type"] = "multipart/form-data; boundary=fuzz"
    body = data.draw(_bodies(route), label="body")
    status, raw, content_type = _request(served, route.method, path, body, headers)
    _check(status, raw, content_type, (route.method, path, body[:200]))


@FUZZ
@given(
    descriptor=st.one_of(json_values, st.just(DESCRIPTOR)),
    parts=st.lists(st.tuples(st.text(max_size=8), st.binary(max_size=100)), max_size=3),
    tail=st.sampled_from([b"--fuzz--\r\n", b"", b"--fuzz\r\n"]),
)
def test_random_release_uploads_never_500(
    served: Served, descriptor: Any, parts: list[tuple[str, bytes]], tail: bytes
) -> None:
    chunks = [
        b'--fuzz\r\nContent-Disposition: form-data; name="descriptor"\r\n\r\n'
        + json.dumps(descriptor).encode()
        + b"\r\n"
    ]
    for name, content in parts:
        disposition = f'form-data; name="{quote(name)}"; filename="{quote(name)}.bin"'
        chunks.append(
            f"--fuzz\r\nContent-Disposition: {disposition}\r\n\r\n".encode() + content + b"\r\n"
        )
    headers = {
        "Authorization": f"Bearer {ADMIN_TOKEN}",
        "Content-Type": "multipart/form-data; boundary=fuzz",
    }
    path = f"/tpf/admin/tenants/{TENANT}/pipelines/{quote(PIPELINE_ID)}/releases/register"
    status, raw, content_type = _request(served, "POST", path, b"".join(chunks) + tail, headers)
    _check(status, raw, content_type, (descriptor, parts))


def test_the_fuzzed_server_still_serves(served: Served, tmp_path: Path) -> None:
    headers = {"Authorization": f"Bearer {CP_TOKEN}"}
    path = f"/tpf/control-plane/tenants/{TENANT}/interactions/pending?limit=1000"
    status, raw, _ = _request(served, "GET", path, b"", headers)
    assert status == 200
    assert any(i["interactionId"] == served.interaction_id for i in json.loads(raw))
