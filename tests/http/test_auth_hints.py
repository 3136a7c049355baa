"""A 401 tells the caller how to send the token: the key that sets it, and the flag and
environment variable the ``tpf`` CLI reads it from."""

from __future__ import annotations

import pytest

from tests.http.conftest import ADMIN, CP, Api

HINTS = {
    CP: ("pipeline.orchestrator.control-plane.admin-token", "--token", "TPF_CONTROL_PLANE_TOKEN"),
    ADMIN: ("pipeline.orchestrator.admin.admin-token", "--admin-token", "TPF_ADMIN_TOKEN"),
}


@pytest.mark.parametrize(
    "headers", [{}, {"Authorization": "Basic x"}, {"Authorization": "Bearer no"}]
)
@pytest.mark.parametrize("surface", [CP, ADMIN])
async def test_a_401_names_the_cli_flag_and_variable(
    api: Api, surface: str, headers: dict[str, str]
) -> None:
    path = f"{surface}/executions/x" if surface == CP else f"{surface}/executions/x/redrive"
    response = await api.raw("GET" if surface == CP else "POST", path, headers=headers)
    assert response.status == 401
    message = (await response.json())["error"]["message"]
    for fragment in HINTS[surface]:
        assert fragment in message, message
    other = ADMIN if surface == CP else CP
    assert HINTS[other][2] not in message  # the other surface's variable would mislead
