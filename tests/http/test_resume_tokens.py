"""Resume tokens (spec §4.6): the format, verification, and completing by token over HTTP."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.http.conftest import ApiFactory, decision_envelope, error, ok
from tpf.core import resume_tokens
from tpf.core.clock import FakeClock
from tpf.core.errors import ValidationError
from tpf.core.records import AwaitInteraction, InteractionStatus

SECRET = "resume-secret"
INTERACTION = AwaitInteraction(
    tenant_id="t",
    execution_id="e-1",
    step_id="approve",
    step_index=2,
    output_type=None,
    interaction_id="i-1",
    correlation_id="c-1",
    causation_id="e-1:2",
    idempotency_key="k",
    unit_id="u",
    status=InteractionStatus.DISPATCHED,
    deadline_epoch_ms=2_000,
)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def test_token_format_is_the_originals() -> None:
    token = resume_tokens.issue(SECRET, INTERACTION, 1_000)
    encoded, signature = token.split(".")
    assert "=" not in token
    claims = json.loads(base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)))
    assert list(claims) == [
        "tenantId",
        "interactionId",
        "correlationId",
        "executionId",
        "stepId",
        "deadlineEpochMs",
        "issuedAtEpochMs",
    ]
    assert claims["interactionId"] == "i-1" and claims["issuedAtEpochMs"] == 1_000
    expected = hmac.new(SECRET.encode(), encoded.encode(), hashlib.sha256).digest()
    assert signature == _b64(expected)
    assert resume_tokens.verify(SECRET, token, INTERACTION, 2_000).interaction_id == "i-1"


def test_verification_failures() -> None:
    token = resume_tokens.issue(SECRET, INTERACTION, 1_000)
    encoded, signature = token.split(".")
    forged_claims = json.loads(base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)))
    forged = _b64(json.dumps({**forged_claims, "interactionId": "i-2"}).encode())
    cases: list[tuple[str, AwaitInteraction, str]] = [
        (token, msgspec.structs.replace(INTERACTION, step_id="other"), "stepId does not match"),
        (token, msgspec.structs.replace(INTERACTION, tenant_id="x"), "tenantId does not match"),
        (f"{forged}.{signature}", INTERACTION, "signature does not verify"),
        (resume_tokens.issue("other-secret", INTERACTION, 1_000), INTERACTION, "signature"),
        (f"{encoded}.", INTERACTION, "malformed"),
        ("no-dot", INTERACTION, "malformed"),
    ]
    for candidate, interaction, message in cases:
        with pytest.raises(ValidationError, match=message) as info:
            resume_tokens.verify(SECRET, candidate, interaction, 1_500)
        assert info.value.code == resume_tokens.CODE_INVALID
    with pytest.raises(ValidationError) as expired:
        resume_tokens.verify(SECRET, token, INTERACTION, 2_001)
    assert expired.value.code == resume_tokens.CODE_EXPIRED


@given(st.text(max_size=200))
def test_arbitrary_tokens_only_ever_fail_validation(token: str) -> None:
    with pytest.raises(ValidationError):
        resume_tokens.verify(SECRET, token, INTERACTION, 1_000)


# --------------------------------------------------------------------------- over HTTP


def _accepted(task: dict[str, Any]) -> dict[str, Any]:
    return decision_envelope("accepted", {"orderId": task["requestPayload"]["orderId"]})


async def test_complete_by_resume_token(make_api: ApiFactory) -> None:
    api = await make_api(awaits__resume_token_secret="env:RESUME", environ={"RESUME": SECRET})
    await api.release()
    first = await api.parked(await api.submit())
    second = await api.parked(await api.submit({"requestId": "other", **_order()}))
    token = first["resumeToken"]
    # A token is bound to its interaction: naming another one with it is refused.
    body = {
        "interactionId": second["interactionId"],
        "resumeToken": token,
        "responsePayload": _accepted(second),
    }
    err = await error(api.cp("POST", "/interactions/complete", json=body), 400)
    assert "interactionId does not match" in err["message"]
    tampered = {
        "resumeToken": token[:-2] + ("AA" if token[-2:] != "AA" else "BB"),
        "responsePayload": _accepted(first),
    }
    err = await error(api.cp("POST", "/interactions/complete", json=tampered), 400)
    assert err["code"] == resume_tokens.CODE_INVALID
    garbage = {"resumeToken": "!!.??", "responsePayload": _accepted(first)}
    await error(api.cp("POST", "/interactions/complete", json=garbage), 400)
    body = {"resumeToken": token, "responsePayload": _accepted(first)}
    done = await ok(api.cp("POST", "/interactions/complete", json=body))
    assert done["interactionId"] == first["interactionId"] and done["duplicate"] is False
    result = await ok(api.cp("GET", f"/executions/{first['executionId']}/result?waitMs=5000"))
    assert result["status"]["status"] == "SUCCEEDED"


def _order() -> dict[str, str]:
    return {
        "customerName": "Grace",
        "restaurantName": "Queue",
        "items": "Soup",
        "totalAmount": "9.00",
        "currency": "EUR",
    }


async def test_an_expired_token_times_the_interaction_out(make_api: ApiFactory) -> None:
    clock = FakeClock()
    api = await make_api(clock=clock, awaits__resume_token_secret=SECRET)
    await api.release()
    task = await api.parked(await api.submit())
    clock.advance(31 * 60 * 1000)
    body = {"resumeToken": task["resumeToken"], "responsePayload": _accepted(task)}
    err = await error(api.cp("POST", "/interactions/complete", json=body), 400)
    assert err["code"] == "INTERACTION_CLOSED"
    status = await ok(api.cp("GET", f"/executions/{task['executionId']}?waitMs=5000"))
    assert status["status"] == "FAILED" and status["errorCode"] == "AWAIT_TIMEOUT"
