"""The incident demo: a business-invalid completion fails the execution to the DLQ; an operator
triages and re-drives it (``make incident``).

With ``PIPELINE_ORCHESTRATOR_MAX_RETRIES=0``, an order is submitted and parks; the restaurant
completes it with ``orderId: "not-a-uuid"`` (valid for the API, invalid for the business rule in
Finalize), so the resumed transition fails terminally with ``errorCode``/``errorMessage`` and the
coordinator logs ``Execution moved to DLQ: ...``. The operator re-drives it with
``expectedVersion`` and ``allowFailed=true``; it runs again from the stored answer, fails again,
and its ``version`` advances. A triage summary is printed. Then the fix: the restaurant's
corrected answer to the answered interaction is refused (409, naming who answered and when), so
the operator re-drives with ``reopenAwait=true``: the execution parks again at its await on a
fresh interaction, the corrected answer completes it, and the order ends ``APPROVED``.

Run: ``python -m demos.restaurant_approval.incident`` (state in ``TPF_STATE_DIR``/incident).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

from demos.restaurant_approval import flows
from demos.restaurant_approval.server import DemoServer
from tpf.client import ApiError, RestClient
from tpf.config import load_settings

FAILED = {"FAILED", "DLQ"}


def dlq_log_lines(server: DemoServer, execution_id: str, timeout_s: float = 10.0) -> list[str]:
    """The coordinator's ``Execution moved to DLQ`` lines for the execution.

    The envelope is published just after the FAILED commit (from its durable mark), so the line
    may trail the status by a moment: look again until it shows or the deadline passes.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        lines = [
            line
            for line in server.log().splitlines()
            if "Execution moved to DLQ:" in line and execution_id in line
        ]
        if lines or time.monotonic() > deadline:
            return lines
        time.sleep(0.05)


def main() -> int:
    settings = load_settings()
    server = DemoServer(
        Path(settings.state.dir).resolve() / "incident",
        settings.http.port,
        extra_env={"PIPELINE_ORCHESTRATOR_MAX_RETRIES": "0"},
    )
    flows.say(f"tpf incident demo: tpf serve on {server.base_url} with max-retries=0")
    server.start()
    try:
        client = server.client()
        flows.prepare_release(client, server.state_dir / "build")
        flows.say("\n== Faulty completion")
        eid = flows.submit_order(client, "Katherine Johnson", "Faulty Kitchen", "Soup")
        flows.wait_for(client, eid, {"WAITING_EXTERNAL"})
        bad = flows.pending_for(client, eid)
        flows.complete(client, bad, "accepted", order_id="not-a-uuid")
        failed = flows.wait_for(client, eid, FAILED)
        assert failed["status"] in FAILED, failed
        assert failed["errorCode"] and failed["errorMessage"], failed
        flows.say(f"  failed: {failed['errorCode']}: {failed['errorMessage']}")
        dlq_lines = dlq_log_lines(server, eid)
        assert dlq_lines, "the coordinator log must show the DLQ line for the execution"
        flows.say(f"  coordinator log: {dlq_lines[0].split('ERROR', 1)[-1].strip()}")

        flows.say("\n== Operator re-drive")
        redriven = client.redrive(
            eid,
            expected_version=failed["version"],
            reason="self-host incident demo re-drive",
            allow_failed=True,
        )
        flows.say(
            f"  re-driven {redriven['previousStatus']} -> {redriven['status']} "
            f"(version {redriven['version']}, attempt {redriven['attempt']})"
        )
        again = flows.wait_for(client, eid, FAILED)
        assert again["status"] in FAILED and again["version"] > failed["version"], again
        triage(eid, failed, again, dlq_lines)
        fixed = correct_the_answer(client, eid, again, bad)
    finally:
        server.stop()
    flows.say(f"  corrected answer: {fixed}")
    flows.say("incident demo passed")
    return 0


def triage(eid: str, failed: dict[str, Any], again: dict[str, Any], dlq_lines: list[str]) -> None:
    flows.say("\n== Triage summary")
    flows.say(f"  execution      {eid}")
    flows.say(f"  status         {again['status']} at step {again['stepIndex']}")
    flows.say(f"  error          {again['errorCode']}: {again['errorMessage']}")
    flows.say(f"  attempts       {again['attempt'] + 1} (re-drive added one)")
    flows.say(f"  version        {failed['version']} -> {again['version']}")
    flows.say(f"  DLQ evidence   {len(dlq_lines)} log line(s) before the re-drive")
    flows.say("  next step      the answer was wrong: re-open the await for a corrected one")


def correct_the_answer(
    client: RestClient, eid: str, again: dict[str, Any], bad: dict[str, Any]
) -> str:
    """Re-open the await of the failed execution and complete it with the corrected answer."""
    flows.say("\n== Fix: re-open the await")
    try:
        flows.complete(client, bad, "accepted")  # the right orderId, on the answered interaction
    except ApiError as exc:
        assert exc.status == 409 and exc.code == "INTERACTION_ALREADY_COMPLETED", exc
        flows.say(f"  refused: {exc.code}: {exc.message.split(';')[0]}")
    else:
        raise AssertionError("a different answer to a completed interaction must be refused")
    reopened = client.redrive(
        eid,
        expected_version=again["version"],
        reason="restaurant sent a malformed orderId",
        reopen_await=True,
    )
    flows.say(
        f"  re-opened the await of {reopened['reopenedInteractionId']} at step "
        f"{reopened['currentStepIndex']} (attempt {reopened['attempt']})"
    )
    flows.wait_for(client, eid, {"WAITING_EXTERNAL"})
    fresh = flows.pending_for(client, eid)
    assert fresh["interactionId"] != bad["interactionId"], fresh
    flows.complete(client, fresh, "accepted")
    done = flows.wait_for(client, eid, {"SUCCEEDED"})
    assert done["status"] == "SUCCEEDED", done
    result = client.result(eid)
    outcome: str = json.loads(result["resultPayload"]["payload"])["outcome"]
    assert outcome == "APPROVED", result
    return outcome


if __name__ == "__main__":
    sys.exit(main())
