"""How the operator commands print the API's answers for people (``--json`` prints them raw).

Times print as ISO-8601 UTC; ``outcome`` functions give a command's exit status for an answer
the API accepted (``executions result`` of a FAILED execution is not a result: exit 3).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

EXIT_EXECUTION_FAILED = 3
FAILED_STATUSES = frozenset({"FAILED", "DLQ"})


def time(epoch_ms: Any) -> str:
    """An epoch-millisecond field as ISO-8601 UTC for people (``--json`` keeps the number)."""
    if not isinstance(epoch_ms, int) or isinstance(epoch_ms, bool):
        return "-"
    moment = datetime.fromtimestamp(epoch_ms / 1000, tz=UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def status_line(s: dict[str, Any]) -> str:
    line = (
        f"execution {s['executionId']}: {s['status']} step={s['stepIndex']} "
        f"attempt={s['attempt']} version={s['version']}"
    )
    if s.get("errorCode"):
        line += f"\n  error {s['errorCode']}: {s.get('errorMessage') or ''}"
    items = s.get("items")
    if items:  # an expanded execution: its items in one line
        variants = ", ".join(f"{k} {v}" for k, v in sorted(items.get("byVariant", {}).items()))
        line += (
            f"\n  items: {items['completed']} of {items['total']} completed, "
            f"{items['failed']} failed, {items['pending']} pending ({items['inFlight']} open)"
            + (f"; {variants}" if variants else "")
        )
    return line


def fmt_submit(r: Any) -> list[str]:
    dup = " (duplicate: the existing execution)" if r["duplicate"] else ""
    return [
        f"execution {r['executionId']} accepted{dup} at {time(r.get('submittedAtEpochMs'))}",
        f"status: {r['statusUrl']}",
    ]


def fmt_result(r: Any) -> list[str]:
    lines = [status_line(r["status"])]
    payload = r.get("resultPayload")
    if payload:
        lines.append(f"result ({payload.get('payloadTypeId')}): {payload.get('payload')}")
    return lines


def result_outcome(r: Any) -> tuple[int, str | None]:
    """A result read of a failed execution is not a result: exit non-zero, saying why."""
    s = r["status"]
    if s["status"] not in FAILED_STATUSES:
        return 0, None
    return EXIT_EXECUTION_FAILED, (
        f"error: execution {s['executionId']} {s['status']}: "
        f"{s.get('errorCode') or 'no error code'}: {s.get('errorMessage') or ''}"
    )


def succeeded(_answer: Any) -> tuple[int, str | None]:
    return 0, None


def fmt_pending(rows: Any) -> list[str]:
    if not rows:
        return ["no pending interactions"]
    return [
        line
        for p in rows
        for line in (
            f"{p['interactionId']} execution={p['executionId']} step={p['stepId']} "
            f"deadline={time(p['deadlineEpochMs'])} assignee={p.get('assignee') or '-'} "
            f"group={p.get('group') or '-'}",
            # What the person is asked to decide on; compact so one interaction stays 2 lines.
            f"  request: {json.dumps(p.get('requestPayload'), separators=(',', ':'))}",
        )
    ]


def fmt_completion(r: Any) -> list[str]:
    dup = " (duplicate: first completion wins)" if r["duplicate"] else ""
    return [f"interaction {r['interactionId']} {r['status']}{dup}; execution {r['executionId']}"]


def fmt_redrive(r: Any) -> list[str]:
    lines = [
        f"execution {r['executionId']} re-driven: {r['previousStatus']} -> {r['status']} "
        f"(version {r['version']}, step {r['currentStepIndex']}, attempt {r['attempt']})"
    ]
    if r.get("reopenedInteractionId"):
        lines.append(
            f"await re-opened (answer of {r['reopenedInteractionId']} set aside): complete the "
            "fresh interaction listed by `tpf interactions pending`"
        )
    return lines


def fmt_release(r: Any) -> list[str]:
    return [
        f"release {r['releaseVersion']} {r['status']} pipeline={r['pipelineId']} "
        f"contract={r['contractVersion']} artifact={r.get('primaryArtifactId')}"
    ]


def fmt_releases(rows: Any) -> list[str]:
    return [line for r in rows for line in fmt_release(r)] or ["no releases"]


def fmt_worker(r: Any) -> list[str]:
    return [
        f"worker {r['workerId']} {r['state']} protocol={r['protocol']} "
        f"release={r['releaseVersion']} lastHeartbeat={time(r['lastHeartbeatAtEpochMs'])}"
    ]


def fmt_workers(rows: Any) -> list[str]:
    return [line for r in rows for line in fmt_worker(r)] or ["no workers"]
