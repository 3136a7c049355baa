"""The operator's view commands against a real ``tpf serve`` (issue 12): executions
list|history|cancel, interactions show, redrive --where."""

from __future__ import annotations

import json
import uuid

from demos.restaurant_approval.pipeline import PIPELINE_ID
from demos.restaurant_approval.server import DemoServer
from tests.test_operator_cli import json_of, server, tpf

__all__ = ["server"]  # the fixture, re-used


def submit_parked(server: DemoServer) -> tuple[str, dict[str, object]]:
    order = {
        "requestId": str(uuid.uuid4()),
        "customerName": "Ada Lovelace",
        "restaurantName": "Cafe TPF",
        "items": "Tea",
        "totalAmount": "4.50",
        "currency": "EUR",
    }
    submitted = json_of(
        tpf(
            server,
            "executions",
            "submit",
            "--pipeline-id",
            PIPELINE_ID,
            "--input",
            json.dumps(order),
            "--json",
        )
    )
    eid: str = submitted["executionId"]
    parked = json_of(tpf(server, "executions", "get", eid, "--wait-ms", "10000", "--json"))
    assert parked["status"] == "WAITING_EXTERNAL"
    return eid, parked


def test_list_history_show_and_cancel(server: DemoServer) -> None:
    eid, parked = submit_parked(server)
    (interaction_id,) = parked["openInteractionIds"]  # type: ignore[misc]
    listed = json_of(
        tpf(server, "executions", "list", "--pipeline", PIPELINE_ID, "--status",
            "waiting_external", "--all", "--json")
    )  # fmt: skip
    assert eid in [i["executionId"] for i in listed["items"]]
    assert listed["nextCursor"] is None
    table = tpf(server, "executions", "list", "--status", "WAITING_EXTERNAL", "--limit", "500")
    assert table.returncode == 0, table.stderr
    assert table.stdout.startswith("EXECUTION") and eid in table.stdout
    shown = tpf(server, "interactions", "show", interaction_id)
    assert shown.returncode == 0, shown.stderr
    assert f"interaction {interaction_id} " in shown.stdout and "response schema:" in shown.stdout
    refused = tpf(server, "executions", "cancel", eid)
    assert refused.returncode == 2 and "--reason" in refused.stderr
    cancelled = tpf(server, "executions", "cancel", eid, "--reason", "duplicate order")
    assert cancelled.returncode == 0, cancelled.stderr
    assert f"execution {eid} FAILED (CANCELLED)" in cancelled.stdout
    again = tpf(server, "executions", "cancel", eid, "--reason", "twice")
    assert again.returncode == 1 and "HTTP 409" in again.stderr
    history = tpf(server, "executions", "history", eid)
    assert history.returncode == 0, history.stderr
    assert "SUBMITTED" in history.stdout and "PARKED" in history.stdout
    assert "CANCELLED" in history.stdout and "reason: duplicate order" in history.stdout
    raw = json_of(tpf(server, "executions", "history", eid, "--json"))
    assert [e["kind"] for e in raw["entries"]] == ["SUBMITTED", "PARKED", "CANCELLED"]
    bad = tpf(server, "executions", "list", "--updated-after", "someday")
    assert bad.returncode == 1 and "updatedAfter" in bad.stderr


def test_redrive_where_dry_run_then_real_and_the_single_form(server: DemoServer) -> None:
    eid, _ = submit_parked(server)
    json_of(tpf(server, "executions", "cancel", eid, "--reason", "test", "--json"))
    where = f"status=FAILED,pipelineId={PIPELINE_ID},errorCode=CANCELLED"
    dry = json_of(tpf(server, "redrive", "--where", where, "--dry-run", "--json"))
    assert dry["dryRun"] is True and eid in dry["redriven"]
    still = json_of(tpf(server, "executions", "get", eid, "--json"))
    assert still["status"] == "FAILED"
    text = tpf(server, "redrive", "--where", where, "--dry-run")
    assert "would re-drive" in text.stdout and eid in text.stdout
    real = tpf(server, "redrive", "--where", where, "--reason", "retry them")
    assert real.returncode == 0, real.stderr
    assert "re-drove" in real.stdout and eid in real.stdout
    back = json_of(tpf(server, "executions", "get", eid, "--wait-ms", "10000", "--json"))
    assert back["status"] == "WAITING_EXTERNAL"
    both = tpf(server, "redrive", eid, "--where", where)
    assert both.returncode == 2 and "not both" in both.stderr
    neither = tpf(server, "redrive")
    assert neither.returncode == 2
    typo = tpf(server, "redrive", "--where", "colour=red")
    assert typo.returncode == 2 and "KEY=VALUE" in typo.stderr
    # The single-id form still works (and still refuses what it always refused).
    single = tpf(server, "redrive", eid, "--allow-failed")
    assert single.returncode == 1 and "HTTP 409" in single.stderr
