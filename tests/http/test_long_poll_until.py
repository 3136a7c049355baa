"""``?waitMs=N&until=terminal`` over HTTP: a long poll that holds through a park until the
execution is terminal, for clients whose answer travels over a broker rather than from them.

The default (``until=settled``) answering at the park, and a shutdown answering both kinds of
open long poll, are covered in test_control_plane.py.
"""

from __future__ import annotations

import asyncio
import time

from tests.http import gate
from tests.http.conftest import Api, error, ok, submit_gated

HELD = ("QUEUED", "RUNNING")  # a gated execution before or inside its held step


async def _interaction_id(api: Api, eid: str) -> str:
    pending = await ok(api.cp("GET", f"/interactions/pending?executionId={eid}"))
    interaction_id: str = pending[0]["interactionId"]
    return interaction_id


async def test_until_terminal_holds_through_the_park_until_the_result(gated: Api) -> None:
    eid = await submit_gated(gated)
    path = f"/executions/{eid}/result?waitMs=20000&until=terminal"
    poll = asyncio.create_task(ok(gated.cp("GET", path)))
    gate.GATE.event.set()
    parked = await gated.wait_status(eid)  # the default long poll answers at the park
    assert parked["status"] == "WAITING_EXTERNAL"
    interaction_id = await _interaction_id(gated, eid)  # one more round trip after the park
    assert not poll.done()
    body = {"interactionId": interaction_id, "responsePayload": {"ok": True}}
    await ok(gated.cp("POST", "/interactions/complete", json=body))
    done = await asyncio.wait_for(poll, timeout=5)  # far sooner than the 20 s asked for
    assert done["status"]["status"] == "SUCCEEDED"
    assert done["resultPayload"] is not None


async def test_until_terminal_answers_after_wait_ms_with_the_parked_state(gated: Api) -> None:
    eid = await submit_gated(gated)
    gate.GATE.event.set()
    assert (await gated.wait_status(eid))["status"] == "WAITING_EXTERNAL"
    started = time.monotonic()
    status = await ok(gated.cp("GET", f"/executions/{eid}?waitMs=100&until=terminal"))
    assert status["status"] == "WAITING_EXTERNAL" and time.monotonic() - started >= 0.09
    # until=settled is the default: it answers at the park at once.
    settled = gated.cp("GET", f"/executions/{eid}/result?waitMs=20000&until=settled")
    answer = await asyncio.wait_for(ok(settled), timeout=5)
    assert answer["status"]["status"] == "WAITING_EXTERNAL"


async def test_unknown_until_is_400_naming_it_even_without_a_wait(gated: Api) -> None:
    eid = await submit_gated(gated)
    for query in ("until=done", "waitMs=10&until=TERMINAL", "waitMs=10&until=settled,terminal"):
        for route in (f"/executions/{eid}", f"/executions/{eid}/result"):
            err = await error(gated.cp("GET", f"{route}?{query}"), 400)
            assert err["message"].startswith("until: must be one of settled, terminal"), err


async def test_openapi_documents_until_on_status_and_result(api: Api) -> None:
    doc = await ok(api.raw("GET", "/q/openapi"))
    base = "/tpf/control-plane/tenants/{tenantId}/executions/{executionId}"
    for path in (base, f"{base}/result"):
        until = next(p for p in doc["paths"][path]["get"]["parameters"] if p["name"] == "until")
        assert until["in"] == "query" and until["required"] is False
        assert {"type": "string", "enum": ["settled", "terminal"]} in until["schema"]["anyOf"]
