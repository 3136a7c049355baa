"""The shipped alert rules and Grafana dashboard parse, and name only metrics a coordinator
exports (issue 12, item 4).

The rules are checked for the structure Prometheus loads (groups of rules with ``alert``,
``expr``, ``for``, ``labels``, ``annotations``); the dashboard for Grafana's import shape
(a datasource input, panels with queries). Every metric name in an expression is then looked up
in a live coordinator's ``/q/metrics``, over a real socket, after driving executions through
the REST API so that counters and histograms have series: parked, completed, retried and
failed-into-the-DLQ executions.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import msgspec
import yaml
from prometheus_client.parser import text_string_to_metric_families

from tests.http.conftest import ORDER, TENANT, ApiFactory, decision_envelope, ok
from tpf.authoring.pipeline import Pipeline
from tpf.core.records import ExecutionStatus

ROOT = Path(__file__).resolve().parents[2]
ALERTS = ROOT / "deploy" / "prometheus" / "alerts.yml"
DASHBOARD = ROOT / "deploy" / "grafana" / "tpf-coordinator.json"
METRIC = re.compile(r"\btpf_[a-zA-Z0-9_]*[a-zA-Z0-9]")
DURATION = re.compile(r"^\d+[smhd]$")
# Families only an outside party makes series for: a completion consumed from SQS or Kafka that
# is dropped or arrives early, a remote worker that does not answer. They must still be declared
# (HELP/TYPE) by every coordinator; tests/transports and tests/engine/test_operator_metrics.py
# make them move.
DECLARED_ONLY = frozenset(
    {
        "tpf_await_completion_dropped_total",
        "tpf_await_completion_early_held_total",
        "tpf_worker_transport_failures_total",
    }
)


RETRIED = (ExecutionStatus.WAIT_RETRY, ExecutionStatus.SUCCEEDED)


def alert_rules() -> list[dict[str, Any]]:
    doc = yaml.safe_load(ALERTS.read_text())
    assert set(doc) == {"groups"}
    rules: list[dict[str, Any]] = []
    for group in doc["groups"]:
        assert set(group) == {"name", "rules"} and group["rules"], group
        rules.extend(group["rules"])
    return rules


def dashboard_queries() -> list[str]:
    board = json.loads(DASHBOARD.read_text())
    return [t["expr"] for p in board["panels"] if p["type"] != "row" for t in p["targets"]]


def names_in(expr: str) -> set[str]:
    return set(METRIC.findall(expr))


def balanced(expr: str) -> bool:
    depth = 0
    for char in re.sub(r'"[^"]*"', "", expr):
        depth += {"(": 1, ")": -1, "{": 1, "}": -1, "[": 1, "]": -1}.get(char, 0)
        if depth < 0:
            return False
    return depth == 0


def test_the_alert_rules_have_the_shape_prometheus_loads() -> None:
    rules = alert_rules()
    names = [rule["alert"] for rule in rules]
    assert len(names) == len(set(names)), names
    for rule in rules:
        assert set(rule) == {"alert", "expr", "for", "labels", "annotations"}, rule
        assert re.fullmatch(r"[A-Za-z][A-Za-z0-9]*", rule["alert"]), rule["alert"]
        assert isinstance(rule["expr"], str) and balanced(rule["expr"]), rule
        assert names_in(rule["expr"]), rule  # an alert on something we export
        assert DURATION.match(rule["for"]), rule
        assert rule["labels"]["severity"] in {"warning", "critical"}, rule
        assert {"summary", "description"} <= set(rule["annotations"]), rule
    # The original's alert conditions (spec §10, alerting.md), by what they watch.
    watched = {name for rule in rules for name in names_in(rule["expr"])}
    for original in (
        "tpf_await_completion_dropped_total",  # dropped completions
        "tpf_await_completion_early_held_total",  # early-held outrunning released
        "tpf_await_resume_released_total",
        "tpf_execution_dlq_publish_total",  # DLQ growth
        "tpf_worker_lifecycle_records",  # stale workers
        "tpf_sweeper_recoveries_total",  # sweeper recoveries 0 while the due backlog grows
        "tpf_lease_takeovers_total",  # lease conflicts above baseline
        "tpf_retries_scheduled_total",  # retry saturation
        "tpf_work_queue_oldest_message_age_seconds",  # queue oldest age
    ):
        assert original in watched, original


def test_the_dashboard_has_the_shape_grafana_imports() -> None:
    board = json.loads(DASHBOARD.read_text())
    assert board["uid"] and board["title"] and board["schemaVersion"] >= 36
    (source,) = board["__inputs"]
    assert source["pluginId"] == "prometheus"
    ids = [p["id"] for p in board["panels"]]
    assert len(ids) == len(set(ids))
    for panel in board["panels"]:
        pos = panel["gridPos"]
        assert pos["x"] + pos["w"] <= 24, panel["title"]
        if panel["type"] == "row":
            continue
        assert panel["datasource"]["uid"] == "${" + source["name"] + "}", panel["title"]
        assert panel["targets"] and panel["description"], panel["title"]
        for target in panel["targets"]:
            assert balanced(target["expr"]) and names_in(target["expr"]), target
    # A panel for every family of the recipe's "What To Monitor" list.
    shown = {name for expr in dashboard_queries() for name in names_in(expr)}
    for family in (
        "tpf_work_queue_depth",
        "tpf_work_queue_oldest_message_age_seconds",
        "tpf_executions",
        "tpf_lease_takeovers_total",
        "tpf_sweeper_runs_total",
        "tpf_sweeper_recoveries_total",
        "tpf_await_pending",
        "tpf_await_pending_oldest_deadline_timestamp_seconds",
        "tpf_execution_dlq_publish_total",
        "tpf_execution_failure_fingerprint_total",
        "tpf_orchestrator_transition_duration_bucket",
        "tpf_worker_transport_failures_total",
        "tpf_release_activations_total",
        "tpf_release_active_info",
        "tpf_worker_lifecycle_records",
    ):
        assert family in shown, family


class Item(msgspec.Struct, frozen=True):
    value: str


class Once:
    failed = False


retrying = Pipeline("tests.http.monitoring.retrying")


@retrying.step("Fails once")
def fails_once(item: Item) -> Item:
    if not Once.failed:
        Once.failed = True
        raise RuntimeError("transient")
    return item


async def test_every_metric_an_alert_or_panel_names_is_exported(make_api: ApiFactory) -> None:
    Once.failed = False
    api = await make_api(state__provider="sqlite", retries__max_retries=1, host=(retrying,))
    await api.release()
    await api.release(retrying)
    # Parked (await pending, its deadline) ...
    await api.parked(await api.submit({**ORDER, "requestId": "parked"}))
    # ... completed (admitted, resumed, latency, a completed transition) ...
    done = await api.parked(await api.submit({**ORDER, "requestId": "done"}))
    fields = {"orderId": done["requestPayload"]["orderId"], "decidedAt": "2026-01-01T00:00:00Z"}
    body = {
        "interactionId": done["interactionId"],
        "responsePayload": decision_envelope("accepted", fields),
    }
    await ok(api.cp("POST", "/interactions/complete", json=body))
    assert (await api.wait_status(done["executionId"]))["status"] == "SUCCEEDED"
    # ... failed for good (a fingerprint and a DLQ publication) ...
    failing = await api.parked(await api.submit({**ORDER, "requestId": "incident"}))
    bad = {"orderId": "not-a-uuid", "decidedAt": "2026-01-01T00:00:00Z"}
    body = {
        "interactionId": failing["interactionId"],
        "responsePayload": decision_envelope("accepted", bad),
    }
    await ok(api.cp("POST", "/interactions/complete", json=body))
    assert (await api.wait_status(failing["executionId"]))["status"] == "FAILED"
    await api.coordinator.dead_letters.tick()  # or its loop already did: either way, published
    # ... and one retried (retries scheduled).
    accepted = await ok(
        api.cp(
            "POST",
            "/executions",
            json={
                "pipelineId": retrying.pipeline_id,
                "inputShape": "UNI",
                "inputPayload": {"value": "v"},
            },
        )
    )
    # The REST long poll waits past a WAIT_RETRY (not settled): ask the coordinator.
    retry = await api.coordinator.wait_for(TENANT, accepted["executionId"], RETRIED, timeout_s=5.0)
    assert retry.status in RETRIED and api.coordinator.engine.counters["retries_scheduled"] == 1
    response = await api.raw("GET", "/q/metrics")
    assert response.status == 200
    families = list(text_string_to_metric_families(await response.text()))
    with_series = {s.name for f in families for s in f.samples}
    declared = {f"{f.name}_total" if f.type == "counter" else f.name for f in families}

    named = {name for rule in alert_rules() for name in names_in(rule["expr"])}
    named |= {name for expr in dashboard_queries() for name in names_in(expr)}
    assert named - with_series - DECLARED_ONLY == set()
    assert declared >= DECLARED_ONLY
