"""Deeply nested JSON over HTTP: a 400 naming the field on every route that decodes client JSON,
never a 500 (issue 8, break 1), while JSON at the configured depth is still accepted."""

from __future__ import annotations

import base64
import json
from typing import Any

from aiohttp import FormData

from tests.http import gate
from tests.http.conftest import (
    RELEASES,
    WORKERS,
    Api,
    ApiFactory,
    envelope,
    error,
    ok,
)
from tpf.core.json_depth import check_depth, depth
from tpf.core.records import ExecutionStatus

# What the adversarial pass sent: ~2 KB of brackets, deep enough to exhaust the decoder's stack.
HOSTILE = 981
LIMIT = 64  # the default tpf.http.max-json-depth
TICKET_TYPE = "tests.http.gate.Ticket"


def nest(levels: int) -> str:
    """JSON text of ``levels`` nested arrays around a number."""
    return "[" * levels + "1" + "]" * levels


def body_with(levels: int, **fields: Any) -> bytes:
    """A JSON object of ``fields`` with an ``extra`` member nested so the whole body is ``levels``
    deep (the object itself is one level)."""
    text = json.dumps(fields)[:-1] + f', "extra": {nest(levels - 1)}}}'
    assert depth(text) == levels
    return text.encode()


def submit_body(payload: Any) -> dict[str, Any]:
    return {"pipelineId": gate.pipeline.pipeline_id, "inputShape": "UNI", "inputPayload": payload}


def raw_submit(levels: int) -> bytes:
    """A submit body whose plain ``inputPayload`` makes the body ``levels`` deep."""
    payload = body_with(levels - 1, ticketId="t-deep").decode()  # the body is one level
    text = json.dumps(submit_body({})).replace('"inputPayload": {}', f'"inputPayload": {payload}')
    assert depth(text) == levels
    return text.encode()


def ticket_text(levels: int) -> str:
    """An envelope ``payload`` text: a ticket whose whole JSON is ``levels`` deep."""
    return body_with(levels, ticketId="t-deep").decode()


async def test_deep_submit_bodies_are_400_naming_the_field(gated: Api) -> None:
    for levels in (LIMIT + 1, HOSTILE, 20_000):
        text = '{"pipelineId": "p", "inputShape": "UNI", "inputPayload": {"ticketId": "t", '
        text += f'"extra": {nest(levels)}}}}}'
        err = await error(gated.cp("POST", "/executions", data=text.encode()), 400)
        assert err["message"] == (
            "inputPayload: JSON nested deeper than 64 levels (tpf.http.max-json-depth)"
        ), err
    # Deep brackets outside any member, and unclosed ones, are a 400 for the body as a whole.
    for hostile in ("[" * HOSTILE + "]" * HOSTILE, "[" * HOSTILE, '{"a":' * HOSTILE):
        err = await error(gated.cp("POST", "/executions", data=hostile.encode()), 400)
        assert err["message"].startswith(("request body: JSON nested", "a: JSON nested")), err


async def test_deep_envelope_payload_texts_are_400_naming_the_field(gated: Api) -> None:
    for levels in (LIMIT + 1, HOSTILE):
        body = submit_body(envelope(TICKET_TYPE, ticket_text(levels)))
        err = await error(gated.cp("POST", "/executions", json=body), 400)
        assert err["message"] == (
            "inputPayload.payload.extra: JSON nested deeper than 64 levels "
            "(tpf.http.max-json-depth)"
        ), err


async def test_brackets_inside_strings_do_not_count(gated: Api) -> None:
    deep_looking = '\\"' + "[" * HOSTILE + '\\\\"{'  # escaped quotes and backslashes
    body = submit_body({"ticketId": deep_looking})
    accepted = await ok(gated.cp("POST", "/executions", json=body))
    assert accepted["duplicate"] is False


async def test_bodies_and_payload_texts_at_the_limit_are_accepted(gated: Api) -> None:
    plain = await ok(gated.cp("POST", "/executions", data=raw_submit(LIMIT)))
    wrapped = submit_body(envelope(TICKET_TYPE, ticket_text(LIMIT)))
    enveloped = await ok(gated.cp("POST", "/executions", json=wrapped))
    gate.GATE.event.set()
    for accepted in (plain, enveloped):
        status = await gated.wait_status(accepted["executionId"])
        assert status["status"] == ExecutionStatus.WAITING_EXTERNAL, status
    pending = await ok(gated.cp("GET", "/interactions/pending?stepId=answer"))
    by_execution = {p["executionId"]: p["interactionId"] for p in pending}
    # A completion body at the limit, and one whose envelope text is at the limit.
    first = by_execution[plain["executionId"]]
    body = body_with(LIMIT - 1, ok=True)  # responsePayload is one level inside the body
    complete = json.dumps({"interactionId": first})[:-1] + f', "responsePayload": {body.decode()}}}'
    assert depth(complete) == LIMIT
    await ok(gated.cp("POST", "/interactions/complete", data=complete.encode()))
    second = by_execution[enveloped["executionId"]]
    text = body_with(LIMIT, ok=True).decode()
    completion = {"interactionId": second, "responsePayload": envelope("Answer", text)}
    await ok(gated.cp("POST", "/interactions/complete", json=completion))
    for accepted in (plain, enveloped):
        status = await gated.wait_status(accepted["executionId"])
        assert status["status"] == ExecutionStatus.SUCCEEDED, status


async def test_deep_completions_are_400_naming_the_field(gated: Api) -> None:
    for levels in (LIMIT + 1, HOSTILE):
        text = '{"interactionId": "i-1", "responsePayload": {"ok": true, '
        text += f'"extra": {nest(levels)}}}}}'
        err = await error(gated.cp("POST", "/interactions/complete", data=text.encode()), 400)
        assert err["message"].startswith("responsePayload: JSON nested deeper than 64"), err
        wrapped = envelope("java.util.Map", '{"items": {}, "x": ' + nest(levels) + "}")
        body = {"interactionId": "i-1", "responsePayload": wrapped}
        err = await error(gated.cp("POST", "/interactions/complete", json=body), 400)
        assert err["message"].startswith("responsePayload.payload.x: JSON nested deeper"), err


async def test_a_deep_forged_resume_token_is_400(make_api: ApiFactory) -> None:
    api = await make_api(awaits__resume_token_secret="env:RESUME", environ={"RESUME": "secret"})
    claims = '{"tenantId": "t", "x": ' + nest(20_000) + "}"
    encoded = base64.urlsafe_b64encode(claims.encode()).rstrip(b"=").decode()
    body = {"resumeToken": f"{encoded}.c2ln", "responsePayload": {"ok": True}}
    err = await error(api.cp("POST", "/interactions/complete", json=body), 400)
    assert err["message"] == "resumeToken: malformed payload", err


async def test_deep_admin_bodies_are_400(released: Api) -> None:
    body = '{"workerId": "w", "protocol": "LOCAL", "x": ' + nest(HOSTILE) + "}"
    err = await error(released.admin("POST", f"{WORKERS}/register", data=body.encode()), 400)
    assert err["message"].startswith("x: JSON nested deeper than 64 levels"), err


async def test_deep_multipart_descriptors_are_400(api: Api) -> None:
    for levels in (LIMIT + 1, HOSTILE):
        form = FormData()
        descriptor = '{"schemaVersion": 1, "artifacts": ' + nest(levels) + "}"
        form.add_field("descriptor", descriptor, filename="pipeline-release.json")
        err = await error(api.admin("POST", f"{RELEASES}/register", data=form), 400)
        assert err["message"].startswith("descriptor.artifacts: JSON nested deeper than 64"), err
    # At the limit the descriptor decodes and the registrar judges its content instead.
    form = FormData()
    descriptor = '{"artifacts": ' + nest(LIMIT - 1) + "}"
    form.add_field("descriptor", descriptor, filename="pipeline-release.json")
    err = await error(api.admin("POST", f"{RELEASES}/register", data=form), 400)
    assert err["message"].startswith("unsupported release descriptor schemaVersion"), err


async def test_the_depth_bound_is_a_setting(make_api: ApiFactory) -> None:
    api = await make_api(host=(gate.pipeline,), http__max_json_depth=4)
    err = await error(api.cp("POST", "/executions", data=raw_submit(5)), 400)
    expected = "inputPayload: JSON nested deeper than 4 levels (tpf.http.max-json-depth)"
    assert err["message"] == expected
    body = submit_body(envelope(TICKET_TYPE, ticket_text(5)))
    err = await error(api.cp("POST", "/executions", json=body), 400)
    assert err["message"].startswith("inputPayload.payload.extra: JSON nested deeper than 4")


def test_the_scan_agrees_with_the_decoder_about_strings() -> None:
    cases = {
        "1": 0,
        "[]": 1,
        '{"a": [1, {"b": []}]}': 4,
        '["[[[", "]]]"]': 1,
        r'["\"[", ["\\"]]': 2,  # an escaped quote stays in the string, an escaped backslash not
        r'["\\\"[[["]': 1,
        '["\u00e9[", {"\\u005b": "}"}]': 2,
    }
    for text, expected in cases.items():
        json.loads(text)  # each case is valid JSON
        assert depth(text) == expected, text
        assert depth(text.encode()) == expected, text
    check_depth(nest(LIMIT), LIMIT, field="f")


async def test_a_bound_beyond_the_stack_still_answers_400(make_api: ApiFactory) -> None:
    """An operator who raises the bound past what the decoder's stack allows gets 400s too."""
    api = await make_api(http__max_json_depth=1_000_000)
    text = '{"pipelineId": "p", "inputShape": "UNI", "inputPayload": {"x": ' + nest(20_000)
    err = await error(api.cp("POST", "/executions", data=(text + "}}").encode()), 400)
    assert err["message"].startswith("request body: JSON nested too deeply"), err
    body = submit_body(envelope(TICKET_TYPE, nest(20_000)))
    err = await error(api.cp("POST", "/executions", json=body), 400)
    assert err["message"] == "inputPayload.payload: JSON text nested too deeply", err
    form = FormData()
    form.add_field("descriptor", nest(20_000), filename="pipeline-release.json")
    err = await error(api.admin("POST", f"{RELEASES}/register", data=form), 400)
    assert err["message"] == "descriptor: JSON nested too deeply", err


async def test_an_unterminated_string_of_escaped_quotes_is_malformed_json(gated: Api) -> None:
    """The scan treats an unterminated string as running to the end, as the decoder does: the
    brackets in it do not count, and the scan does not retry at each escaped quote (quadratic:
    minutes for these 100 KB)."""
    body = '{"pipelineId": "' + '\\"' * 50_000 + "[" * 100
    assert depth(body) == 1
    err = await error(gated.cp("POST", "/executions", data=body.encode()), 400)
    assert err["code"] == "MALFORMED_JSON", err
