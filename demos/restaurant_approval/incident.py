"""The incident demo: a business-invalid completion fails the execution to the DLQ; an operator
triages and re-drives it (``make incident``).

With ``PIPELINE_ORCHESTRATOR_MAX_RETRIES=0``, an order is submitted and parks; the restaurant
completes it with ``orderId: "not-a-uuid"`` (valid for the API, invalid for the business rule in
Finalize), so the resumed transition fails terminally with ``errorCode``/``errorMessage`` and the
coordinator logs ``Execution moved to DLQ: ...``. The operator re-drives it with
``expectedVersion`` and ``allowFailed=true``; it runs again, fails again, and its ``version``
advances. A triage summary is printed. This proves visibility and operator control, not
self-healing.

Run: ``python -m demos.restaurant_approval.incident`` (state in ``TPF_STATE_DIR``/incident).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from demos.restaurant_approval import flows
from demos.restaurant_approval.server import DemoServer
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
        Path(settings.state_dir).resolve() / "incident",
        settings.http_port,
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
        flows.complete(client, flows.pending_for(client, eid), "accepted", order_id="not-a-uuid")
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
    finally:
        server.stop()
    flows.say("\n== Triage summary")
    flows.say(f"  execution      {eid}")
    flows.say(f"  status         {again['status']} at step {again['stepIndex']}")
    flows.say(f"  error          {again['errorCode']}: {again['errorMessage']}")
    flows.say(f"  attempts       {again['attempt'] + 1} (re-drive added one)")
    flows.say(f"  version        {failed['version']} -> {again['version']}")
    flows.say(f"  DLQ evidence   {len(dlq_lines)} log line(s) before the re-drive")
    flows.say("  next step      fix the completion's orderId upstream, then re-drive again")
    flows.say("incident demo passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
