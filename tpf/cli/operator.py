"""Operator commands: the REST API from the shell.

``tpf executions submit|get|result|list|history|cancel``, ``tpf interactions
pending|complete|show``, ``tpf redrive`` (one id, or ``--where`` a filter),
``tpf releases register|activate|active|list`` and ``tpf workers register|heartbeat|drain|list``.
Every command takes ``--base-url``, ``--tenant``, ``--token`` (control plane) and
``--admin-token`` (defaults from ``TPF_BASE_URL``, ``TPF_TENANT``, ``TPF_CONTROL_PLANE_TOKEN``,
``TPF_ADMIN_TOKEN``) and prints a readable summary, or the raw JSON answer with ``--json``.
Exit status: 0 success, 1 the API refused (its error code and message on stderr), 2 bad usage,
3 ``executions result`` of an execution that FAILED (its error code and message on stderr).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tpf.cli import operator_output as output
from tpf.cli import operator_views
from tpf.cli import operator_views as output_views
from tpf.client.rest import ApiError, RestClient
from tpf.config import client_defaults

Handler = Callable[[RestClient, argparse.Namespace], Any]
Formatter = Callable[[Any], list[str]]
# The exit status of a command the API answered (and a line for stderr when it is not 0).
Outcome = Callable[[Any], tuple[int, str | None]]


# The original's worker protocols (spec §7): a record with any other one is never admitted.
PROTOCOLS = ("local", "rest", "grpc", "sqs")


def _json_arg(text: str) -> Any:
    """A JSON value inline, or ``@path`` to read it from a file."""
    source = "the value"
    if text.startswith("@"):
        source = text[1:]
        try:
            text = Path(source).read_text()
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
            raise argparse.ArgumentTypeError(f"cannot read {source}: {reason}") from None
    try:
        return json.loads(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{source} is not valid JSON: {exc}") from None


def _at_least(minimum: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {value}")
        return value

    return parse


def _command(
    group: Any,
    name: str,
    help_text: str,
    handler: Handler,
    formatter: Formatter,
    outcome: Outcome = output.succeeded,
) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = group.add_parser(name, help=help_text)
    defaults = client_defaults()
    parser.add_argument("--base-url", default=defaults.base_url)
    parser.add_argument("--tenant", default=defaults.tenant)
    parser.add_argument("--token", default=defaults.control_plane_token, help="control plane")
    parser.add_argument("--admin-token", default=defaults.admin_token)
    parser.add_argument("--json", action="store_true", help="print the raw JSON answer")
    parser.set_defaults(handler=_runner(handler, formatter, outcome))
    return parser


def _runner(
    handler: Handler, formatter: Formatter, outcome: Outcome = output.succeeded
) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        client = RestClient(
            args.base_url,
            args.tenant,
            control_plane_token=args.token,
            admin_token=args.admin_token,
        )
        try:
            answer = handler(client, args)
        except ApiError as exc:
            print(f"error: HTTP {exc.status} {exc.code}: {exc.message}", file=sys.stderr)
            return 1
        except OSError as exc:  # a local file the command reads (releases register --upload)
            print(f"error: {exc}", file=sys.stderr)
            return 2
        if args.json:
            print(json.dumps(answer, indent=2))
        else:
            print("\n".join(formatter(answer)))
        status, why = outcome(answer)
        if why:
            print(why, file=sys.stderr)
        return status

    return run


def _redrive(client: RestClient, args: argparse.Namespace) -> Any:
    """One execution by id, or every match of ``--where`` (never both)."""
    if (args.where is None) == (args.execution_id is None):
        print("error: give an execution id or --where FILTER (not both)", file=sys.stderr)
        raise SystemExit(2)
    if args.where is None:
        return client.redrive(
            args.execution_id,
            expected_version=args.expected_version,
            reason=args.reason,
            allow_failed=args.allow_failed,
            reopen_await=args.reopen_await,
        )
    return client.redrive_matching(
        **args.where, limit=args.limit, dryRun=args.dry_run, reason=args.reason
    )


def register(commands: Any) -> None:
    executions = commands.add_parser("executions", help="submit and inspect executions")
    ex = executions.add_subparsers(dest="sub", required=True)
    p = _command(
        ex,
        "submit",
        "submit an execution",
        lambda c, a: c.submit(
            a.pipeline_id, a.input, idempotency_key=a.idempotency_key, input_shape=a.input_shape
        ),
        output.fmt_submit,
    )
    p.add_argument("--pipeline-id", required=True)
    p.add_argument("--input", required=True, type=_json_arg, help="JSON or @file")
    p.add_argument("--idempotency-key")
    p.add_argument("--input-shape", default="UNI", choices=["UNI", "MULTI", "RAW"])
    p = _command(
        ex,
        "get",
        "status of an execution",
        lambda c, a: c.status(a.execution_id, wait_ms=a.wait_ms),
        lambda r: [output.status_line(r)],
    )
    p.add_argument("execution_id")
    p.add_argument("--wait-ms", type=_at_least(0), help="long poll until terminal or waiting")
    p = _command(
        ex,
        "result",
        "result of an execution",
        lambda c, a: c.result(a.execution_id, wait_ms=a.wait_ms),
        output.fmt_result,
        output.result_outcome,
    )
    p.add_argument("execution_id")
    p.add_argument("--wait-ms", type=_at_least(0), help="long poll until terminal or waiting")

    interactions = commands.add_parser("interactions", help="await interactions")
    it = interactions.add_subparsers(dest="sub", required=True)
    p = _command(
        it,
        "pending",
        "list pending interactions",
        lambda c, a: c.pending(
            assignee=a.assignee, group=a.group, step_id=a.step_id, limit=a.limit
        ),
        output.fmt_pending,
    )
    for flag in ("--assignee", "--group", "--step-id"):
        p.add_argument(flag)
    p.add_argument("--limit", type=_at_least(1))
    p = _command(
        it,
        "complete",
        "complete an interaction",
        lambda c, a: c.complete(
            a.response,
            interaction_id=a.interaction_id,
            correlation_id=a.correlation_id,
            resume_token=a.resume_token,
            actor=a.actor,
        ),
        output.fmt_completion,
    )
    for flag in ("--interaction-id", "--correlation-id", "--resume-token", "--actor"):
        p.add_argument(flag)
    p.add_argument("--response", required=True, type=_json_arg, help="JSON or @file")

    operator_views.register(ex, it, _command, _at_least)
    p = _command(
        commands,
        "redrive",
        "re-drive a failed execution, or (--where) every DLQ/FAILED one matching a filter",
        _redrive,
        lambda r: output_views.fmt_bulk(r) if "matched" in r else output.fmt_redrive(r),
    )
    p.add_argument("execution_id", nargs="?")
    p.add_argument("--expected-version", type=int)
    p.add_argument("--reason")
    p.add_argument("--allow-failed", action="store_true")
    p.add_argument(
        "--reopen-await",
        action="store_true",
        help="FAILED only: park it again at its last await on a fresh interaction, so a "
        "corrected answer can complete it (implies --allow-failed)",
    )
    p.add_argument(
        "--where",
        type=output_views.parse_where,
        help="bulk: status=DLQ|FAILED,pipelineId=...,errorCode=...,updatedBefore=...",
    )
    p.add_argument("--dry-run", action="store_true", help="bulk: list, change nothing")
    p.add_argument("--limit", type=_at_least(1), help="bulk: at most this many (default 100)")

    releases = commands.add_parser("releases", help="register and activate releases")
    rl = releases.add_subparsers(dest="sub", required=True)
    p = _command(
        rl,
        "register",
        "register a release descriptor",
        lambda c, a: (
            c.upload_release(a.pipeline_id, a.upload)
            if a.upload
            else c.register_release(a.pipeline_id, a.descriptor)
        ),
        output.fmt_release,
    )
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--descriptor", help="absolute path on the coordinator's filesystem")
    where.add_argument("--upload", help="local pipeline-release.json: send it and its artifacts")
    p = _command(
        rl,
        "activate",
        "activate a release",
        lambda c, a: c.activate_release(a.pipeline_id, a.release_version),
        output.fmt_release,
    )
    p.add_argument("release_version")
    _command(
        rl,
        "active",
        "the active release",
        lambda c, a: c.active_release(a.pipeline_id),
        output.fmt_release,
    )
    _command(
        rl, "list", "all releases", lambda c, a: c.list_releases(a.pipeline_id), output.fmt_releases
    )
    for sub in rl.choices.values():
        sub.add_argument("--pipeline-id", required=True)

    workers = commands.add_parser("workers", help="worker lifecycle records")
    wk = workers.add_subparsers(dest="sub", required=True)
    p = _command(
        wk,
        "register",
        "register or re-register a worker",
        lambda c, a: c.register_worker(
            a.pipeline_id,
            **{
                k: v
                for k, v in {
                    "workerId": a.worker_id,
                    "contractVersion": a.contract_version,
                    "releaseVersion": a.release_version,
                    "protocol": a.protocol,
                    "endpoint": a.endpoint,
                    "artifactId": a.artifact_id,
                    "artifactDigest": a.artifact_digest,
                }.items()
                if v is not None
            },
        ),
        output.fmt_worker,
    )
    for flag in ("--worker-id", "--contract-version", "--release-version"):
        p.add_argument(flag, required=True)
    p.add_argument("--protocol", required=True, type=str.lower, choices=PROTOCOLS)
    for flag in ("--endpoint", "--artifact-id", "--artifact-digest"):
        p.add_argument(flag)
    p = _command(
        wk,
        "heartbeat",
        "record a worker heartbeat",
        lambda c, a: c.heartbeat_worker(a.pipeline_id, a.worker_id),
        output.fmt_worker,
    )
    p.add_argument("worker_id")
    p = _command(
        wk,
        "drain",
        "mark a worker draining",
        lambda c, a: c.drain_worker(a.pipeline_id, a.worker_id),
        output.fmt_worker,
    )
    p.add_argument("worker_id")
    p = _command(
        wk,
        "list",
        "list workers",
        lambda c, a: c.list_workers(
            a.pipeline_id, contract_version=a.contract_version, release_version=a.release_version
        ),
        output.fmt_workers,
    )
    p.add_argument("--contract-version")
    p.add_argument("--release-version")
    for sub in wk.choices.values():
        sub.add_argument("--pipeline-id", required=True)
