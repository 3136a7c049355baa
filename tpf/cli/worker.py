"""``tpf worker``: serve pipeline code to coordinators over REST or gRPC until SIGTERM.

``tpf worker --pipeline MODULE:ATTR[@VERSION] [--protocol rest|grpc|sqs] [--host H]
[--port N] [--http-port N] [--advertise-host NAME] [--tenant T ...] [--coordinator-url URL]
[--admin-token TOKEN | --admin-token-ref env:NAME|file:PATH] [--lifecycle-store]
[--drain-timeout SECONDS] [--config FILE]`` loads the configuration as ``tpf serve`` does, with
``worker.<protocol>.server-enabled=true`` implied by ``--protocol``, refuses what ``tpf config
check`` would refuse for that protocol (its shared secret above all), and runs a
:class:`~tpf.worker.process.WorkerProcess`. With ``--tenant`` it registers and heartbeats its
lifecycle records with the coordinator's admin API (``--coordinator-url``, default
``$TPF_BASE_URL``; the admin token from the flags or ``$TPF_ADMIN_TOKEN``), or with
``--lifecycle-store`` straight in the shared DynamoDB lifecycle store.

SIGTERM or SIGINT drains it: no new transitions, the running ones finish, the records are marked
``DRAINING``, exit 0 (1 when a transition was still running at ``--drain-timeout``). Exit 2 is
a configuration the worker cannot serve with.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from typing import Any

from tpf.cli.release import hosted_pipelines
from tpf.cli.serve import run_server
from tpf.config import client_defaults, load_settings, resolve_secret
from tpf.config.worker_secrets import worker_errors
from tpf.core.errors import ConfigError
from tpf.core.records import WorkerRecord
from tpf.engine import logs

DEFAULT_PORTS = {"rest": 8181, "grpc": 50051, "sqs": 0}
DEFAULT_HTTP_PORT = 8181  # the probes of a gRPC or SQS worker (REST serves them on --port)


def _say(text: str) -> None:
    print(f"tpf worker: {text}", flush=True)  # scripts and tests wait for these lines


def _admin_token(args: argparse.Namespace) -> str | None:
    if args.admin_token and args.admin_token_ref:
        raise ConfigError("give --admin-token or --admin-token-ref, not both")
    if args.admin_token_ref:
        if not args.admin_token_ref.startswith(("env:", "file:")):
            raise ConfigError(
                f"--admin-token-ref: expected env:NAME or file:PATH, got {args.admin_token_ref!r}"
            )
        return resolve_secret(args.admin_token_ref)
    token: str | None = args.admin_token or client_defaults().admin_token
    return token


async def _main(args: argparse.Namespace) -> int:
    from tpf.worker.process import WorkerOptions, WorkerProcess

    protocol = args.protocol
    key = f"pipeline.orchestrator.worker.{protocol}.server-enabled"
    try:
        settings = load_settings(config_file=args.config, overrides={key: "true"})
        errors = worker_errors(settings)
        if errors:
            raise ConfigError("; ".join(errors))
        pipelines = hosted_pipelines(args.pipeline, args.release_version)
        options = WorkerOptions(
            protocol=protocol,
            bind_host=args.host,
            port=DEFAULT_PORTS[protocol] if args.port is None else args.port,
            http_port=args.http_port,
            advertise_host=args.advertise_host,
            coordinator_url=args.coordinator_url or client_defaults().base_url,
            admin_token=_admin_token(args) if args.tenant and not args.lifecycle_store else None,
            tenants=tuple(dict.fromkeys(args.tenant or ())),
            drain_timeout_s=args.drain_timeout,
            lifecycle_store=args.lifecycle_store,
        )

        def registered(record: WorkerRecord) -> None:
            _say(
                f"registered {record.worker_id} for tenant {record.tenant_id} "
                f"({record.state.value}, {record.protocol} {record.endpoint})"
            )

        worker = WorkerProcess(settings, pipelines, options, on_registered=registered)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await worker.start()
    except ConfigError as exc:
        print(f"tpf worker: invalid configuration: {exc}", file=sys.stderr)
        return 2
    for hosted in worker.workers:
        pid, cv, rv = hosted.identity
        _say(f"hosting pipelineId={pid}, contractVersion={cv}, releaseVersion={rv}")
    _say(f"serving {protocol} on {worker.endpoint} (health and metrics on {worker.http_url})")
    await stop.wait()
    _say(f"draining ({worker.host.in_flight} transition(s) running)")
    drained = await worker.stop()
    _say("stopped" if drained else "stopped with transitions still running")
    return 0 if drained else 1


def _run(args: argparse.Namespace) -> int:
    return run_server("worker", _main, args)


def register(commands: Any) -> None:
    worker = commands.add_parser(
        "worker", help="serve pipeline code to coordinators (a remote transition worker)"
    )
    worker.add_argument("--config", help=".properties file (default: $TPF_CONFIG)")
    worker.add_argument(
        "--pipeline",
        action="append",
        required=True,
        metavar="MODULE:ATTR[@VERSION]",
        help="the pipeline code to serve, as release VERSION (default: the code digest, as "
        "tpf release build gives it); repeatable",
    )
    worker.add_argument("--release-version", help="the one --pipeline's release version")
    worker.add_argument("--protocol", choices=sorted(DEFAULT_PORTS), default="rest")
    worker.add_argument("--host", default="127.0.0.1", help="listen address (default 127.0.0.1)")
    worker.add_argument(
        "--port", type=int, help="the protocol's port (default: REST 8181, gRPC 50051)"
    )
    worker.add_argument(
        "--http-port",
        type=int,
        default=DEFAULT_HTTP_PORT,
        help="/q/health and /q/metrics of a gRPC or SQS worker (default 8181; REST: --port)",
    )
    worker.add_argument(
        "--advertise-host",
        help="the host name coordinators reach this worker by, in its registered endpoint "
        "(default: --host, or this machine's name when listening on all addresses)",
    )
    worker.add_argument(
        "--tenant",
        action="append",
        help="register and heartbeat this worker for the tenant; repeatable",
    )
    worker.add_argument(
        "--coordinator-url", help="the coordinator's base URL (default: $TPF_BASE_URL)"
    )
    worker.add_argument("--admin-token", help="the admin API token (default: $TPF_ADMIN_TOKEN)")
    worker.add_argument("--admin-token-ref", help="the admin API token as env:NAME or file:PATH")
    worker.add_argument(
        "--lifecycle-store",
        action="store_true",
        help="write the records straight to the shared lifecycle store "
        "(worker.lifecycle.provider=dynamo) instead of calling the admin API",
    )
    worker.add_argument(
        "--drain-timeout",
        type=float,
        default=30.0,
        metavar="SECONDS",
        help="how long a stopping worker waits for running transitions (default 30)",
    )
    logs.add_arguments(worker)
    worker.set_defaults(handler=_run)
