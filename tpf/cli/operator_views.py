"""The operator's view from the shell (issue 12): ``tpf executions list|history|cancel``,
``tpf interactions show`` and the filter form of ``tpf redrive --where``.

Registered into the groups :mod:`tpf.cli.operator` builds, with its option set (``--base-url``,
tokens, ``--json``). People get one line per execution or entry; ``--json`` the API's answer
(``executions list --all`` gathers every page into one ``items`` list).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from typing import Any

from tpf.cli.operator_output import time
from tpf.client.rest import RestClient

# Keys ``redrive --where`` accepts, as the bulk re-drive body names them.
WHERE_KEYS = {
    "status": "status",
    "pipelineid": "pipelineId",
    "pipeline": "pipelineId",
    "errorcode": "errorCode",
    "updatedbefore": "updatedBefore",
}


def parse_where(text: str) -> dict[str, str]:
    """``status=DLQ,pipelineId=x`` as the bulk re-drive's filter fields."""
    found: dict[str, str] = {}
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        key, sep, value = part.partition("=")
        name = WHERE_KEYS.get(key.strip().lower().replace("-", "").replace("_", ""))
        if not sep or name is None or not value.strip():
            known = "status, pipelineId, errorCode, updatedBefore"
            raise argparse.ArgumentTypeError(
                f"expected KEY=VALUE with KEY one of {known}: {part!r}"
            )
        found[name] = value.strip()
    return found


def list_executions(client: RestClient, args: argparse.Namespace) -> Any:
    filters = {
        "pipelineId": args.pipeline,
        "status": args.status,
        "releaseVersion": args.release,
        "stepId": args.step,
        "errorCode": args.error_code,
        "updatedAfter": args.updated_after,
        "updatedBefore": args.updated_before,
        "limit": args.limit,
        "cursor": args.cursor,
    }
    page = client.search(**filters)
    if not args.all:
        return page
    items = list(page["items"])
    while page.get("nextCursor"):
        page = client.search(**{**filters, "cursor": page["nextCursor"]})
        items.extend(page["items"])
    return {"items": items, "nextCursor": None}


def fmt_executions(page: Any) -> list[str]:
    rows = page["items"]
    if not rows:
        return ["no executions match"]
    header = f"{'EXECUTION':36}  {'STATUS':16}  {'STEP':28}  {'ATT':>3}  {'UPDATED':24}  ERROR"
    lines = [header]
    for r in rows:
        step = r.get("stepId") or str(r["stepIndex"])
        lines.append(
            f"{r['executionId']:36}  {r['status']:16}  {step[:28]:28}  {r['attempt']:>3}  "
            f"{time(r['updatedAtEpochMs']):24}  {r.get('errorCode') or '-'}"
        )
    if page.get("nextCursor"):
        lines.append(f"more: --cursor {page['nextCursor']} (or --all)")
    return lines


def fmt_history(h: Any) -> list[str]:
    lines = [f"execution {h['executionId']}: {len(h['entries'])} entries"]
    if h.get("dropped"):
        lines.append(f"  ({h['dropped']} older entries dropped after the first)")
    for e in h["entries"]:
        moved = f"{e.get('fromStatus') or '-'} -> {e['toStatus']}"
        step = e.get("stepId") or e["stepIndex"]
        attempt = e.get("attempt", 0)
        line = f"{time(e['atEpochMs'])}  {e['kind']:16} {moved:32} step={step} attempt={attempt}"
        extras = [
            f"{label}={e[key]}"
            for key, label in (
                ("durationMs", "durationMs"),
                ("coordinatorId", "by"),
                ("workerId", "worker"),
                ("interactionId", "interaction"),
                ("completedBy", "completedBy"),
                ("idempotencyKey", "key"),
                ("errorCode", "error"),
            )
            if e.get(key) is not None
        ]
        if e.get("tookOver"):
            extras.append("takeover")
        lines.append(line + ("  " + " ".join(extras) if extras else ""))
        if e.get("errorMessage"):
            lines.append(f"    {e['errorMessage']}")
        if e.get("reason"):
            lines.append(f"    reason: {e['reason']}")
    return lines


def fmt_interaction(i: Any) -> list[str]:
    lines = [
        f"interaction {i['interactionId']} {i['status']} execution={i['executionId']} "
        f"step={i['stepId']} deadline={time(i['deadlineEpochMs'])}",
        f"  assignee={i.get('assignee') or '-'} group={i.get('group') or '-'} "
        f"outputType={i.get('outputType') or '-'}",
        f"  request: {json.dumps(i.get('requestPayload'), separators=(',', ':'))}",
    ]
    if "completedBy" in i:
        lines.append(
            f"  completed by {i.get('completedBy') or '-'} at {time(i.get('completedAtEpochMs'))} "
            f"key={i.get('idempotencyKey')}"
        )
    if i.get("responseSchema") is not None:
        lines.append("  response schema: " + json.dumps(i["responseSchema"], separators=(",", ":")))
    return lines


def fmt_cancel(s: Any) -> list[str]:
    return [
        f"execution {s['executionId']} {s['status']} ({s.get('errorCode')}) version={s['version']}"
    ]


def fmt_bulk(r: Any) -> list[str]:
    verb = "would re-drive" if r["dryRun"] else "re-drove"
    lines = [f"matched {r['matched']}; {verb} {len(r['redriven'])}; skipped {len(r['skipped'])}"]
    lines += [f"  {eid}" for eid in r["redriven"]]
    lines += [f"  skipped {s['executionId']}: {s['reason']}" for s in r["skipped"]]
    return lines


Command = Callable[..., argparse.ArgumentParser]


def register(ex: Any, it: Any, command: Command, at_least: Callable[[int], Any]) -> None:
    """Add the view's commands to the ``executions`` (``ex``) and ``interactions`` (``it``)
    groups; ``command`` is :func:`tpf.cli.operator._command`."""
    p = command(ex, "list", "search executions, newest first", list_executions, fmt_executions)
    p.add_argument("--pipeline")
    p.add_argument("--status", type=str.upper)
    p.add_argument("--release")
    p.add_argument("--step")
    p.add_argument("--error-code")
    p.add_argument("--updated-after", help="epoch ms or ISO-8601 instant")
    p.add_argument("--updated-before", help="epoch ms or ISO-8601 instant")
    p.add_argument("--limit", type=at_least(1))
    p.add_argument("--cursor")
    p.add_argument("--all", action="store_true", help="follow every page")
    p = command(
        ex, "history", "an execution's journal", lambda c, a: c.history(a.execution_id), fmt_history
    )
    p.add_argument("execution_id")
    p = command(
        ex,
        "cancel",
        "cancel a live execution (it ends FAILED, errorCode CANCELLED)",
        lambda c, a: c.cancel(a.execution_id, reason=a.reason, expected_version=a.expected_version),
        fmt_cancel,
    )
    p.add_argument("execution_id")
    p.add_argument("--reason", required=True)
    p.add_argument("--expected-version", type=int)
    p = command(
        it,
        "show",
        "one interaction, its response schema and who completed it",
        lambda c, a: c.interaction(a.interaction_id),
        fmt_interaction,
    )
    p.add_argument("interaction_id")
