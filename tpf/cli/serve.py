"""``tpf serve``: run a coordinator behind the REST edge until interrupted.

``tpf serve [--config FILE] [--pipeline MODULE:ATTR[@V] ...] [--host H] [--port P]
[--log-level L] [--log-format text|json] [--access-log]`` loads the
configuration exactly as ``tpf config check`` does, opens the stores and transports it names
(strict startup refuses missing resources), optionally hosts pipeline code as this process's
local transition worker, and serves the control-plane and admin APIs. SIGINT/SIGTERM stop it
cleanly: the listener closes first, then actors (pending asks fail) and stores.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from collections.abc import Awaitable, Callable, Coroutine
from typing import TYPE_CHECKING, Any

from tpf.cli import event_loops
from tpf.cli.gc_tuning import tune_garbage_collector
from tpf.cli.release import hosted_pipelines
from tpf.config import load_settings
from tpf.config.check import describe, rest_surface_warnings
from tpf.config.keys import EVENT_LOOPS
from tpf.core.errors import ConfigError, StoreUnusable
from tpf.engine import logs

if TYPE_CHECKING:
    from tpf.coordinator import Coordinator

LOG = logging.getLogger("tpf.serve")


async def _serve(args: argparse.Namespace) -> int:
    from tpf.coordinator import Coordinator

    overrides: dict[str, str] = {}
    if args.host is not None:
        overrides["tpf.http.host"] = args.host
    if args.port is not None:
        overrides["tpf.http.port"] = str(args.port)
    if args.loop is not None:
        overrides["tpf.http.event-loop"] = args.loop
    try:
        settings = load_settings(config_file=args.config, overrides=overrides)
        pipelines = hosted_pipelines(args.pipeline or (), args.release_version)
        if settings.control_plane.require_remote_worker and pipelines:
            raise ConfigError(
                "pipeline.orchestrator.control-plane.require-remote-worker=true forbids hosting "
                "pipeline code in the coordinator (--pipeline); run it on a remote worker"
            )
        coordinator = await Coordinator.open(settings)
    except ConfigError as exc:
        print(f"tpf serve: invalid configuration: {exc}", file=sys.stderr)
        return 2
    except StoreUnusable as exc:  # another coordinator holds the state, or it is unusable
        print(f"tpf serve: {exc}", file=sys.stderr)
        return 1
    for line in describe(settings):
        LOG.info("setting %s", line)
    for line in rest_surface_warnings(settings):
        LOG.warning("%s", line)

    def host(coordinator: Coordinator) -> None:
        for pipeline, release_version in pipelines:
            worker = coordinator.host(pipeline, release_version=release_version)
            pid, cv, rv = worker.identity
            LOG.info("hosting %s (contract %s, release %s) as a local worker", pid, cv, rv)

    def started(port: int) -> None:
        # Scripts wait for this line (or poll /q/health/ready) before calling the API.
        print(f"tpf serve: listening on http://{settings.http.host}:{port}", flush=True)

    await serve_until_stopped(coordinator, host=host, started=started, access_log=args.access_log)
    print("tpf serve: stopped", flush=True)
    return 0


async def serve_until_stopped(
    coordinator: Coordinator,
    *,
    host: Callable[[Coordinator], None],
    started: Callable[[int], None],
    prepare: Callable[[Coordinator], Awaitable[None]] | None = None,
    access_log: bool = False,
) -> None:
    """Serve an opened coordinator until SIGINT/SIGTERM, then close it (``tpf serve``, ``tpf
    dev``): ``host`` adds pipeline code before the supervisors start (a restart resumes its
    executions at once), ``prepare`` runs once they run, ``started`` once the port listens;
    ``access_log`` turns on aiohttp's per-request log lines."""
    from tpf.http.server import serve

    settings = coordinator.settings
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        host(coordinator)
        await coordinator.start()
        if prepare is not None:
            await prepare(coordinator)
        tune_garbage_collector()
        server = asyncio.create_task(
            serve(
                coordinator,
                host=settings.http.host,
                port=settings.http.port,
                started=started,
                access_log=access_log,
            )
        )
        stopping = asyncio.create_task(stop.wait())
        done, _ = await asyncio.wait({server, stopping}, return_when=asyncio.FIRST_COMPLETED)
        if server in done:
            server.result()  # re-raise a failure to bind or serve
        server.cancel()
        await asyncio.gather(server, return_exceptions=True)
        stopping.cancel()
    finally:
        await coordinator.close()


def run_server(
    name: str,
    main: Callable[[argparse.Namespace], Coroutine[Any, Any, int]],
    args: argparse.Namespace,
    *,
    loop: str = "asyncio",
) -> int:
    """Run a serving command (``tpf serve``, ``tpf dev``) on the ``loop`` event loop with its
    logging flags applied; a failure to bind (the port is taken) is one line and exit 1, not a
    traceback, and a loop that is not installed is exit 2."""
    logs.configure(args.log_level, args.log_format, access_log=args.access_log)
    try:
        return event_loops.run(lambda: main(args), loop)
    except ConfigError as exc:
        print(f"tpf {name}: invalid configuration: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # e.g. the port is taken
        print(f"tpf {name}: {exc}", file=sys.stderr)
        return 1


def _run(args: argparse.Namespace) -> int:
    # The loop is chosen before it exists, so the key is read here as well as in _serve (which
    # reports an invalid configuration itself: here it only falls back to the default loop).
    overrides = {"tpf.http.event-loop": args.loop} if args.loop else {}
    try:
        loop = load_settings(config_file=args.config, overrides=overrides).http.event_loop
    except ConfigError:
        loop = args.loop or "asyncio"
    return run_server("serve", _serve, args, loop=loop)


def register(commands: Any) -> None:
    serve = commands.add_parser("serve", help="run a coordinator with the REST API")
    serve.add_argument("--config", help=".properties file (default: $TPF_CONFIG)")
    serve.add_argument(
        "--pipeline",
        action="append",
        metavar="MODULE:ATTR[@VERSION]",
        help=(
            "host this pipeline's code as a local transition worker, as release VERSION "
            "(default: the code digest, as tpf release build gives it); repeatable, e.g. two "
            "versions of one pipeline side by side"
        ),
    )
    serve.add_argument(
        "--release-version",
        help="host the one --pipeline as this release version (same as MODULE:ATTR@VERSION)",
    )
    serve.add_argument("--host", help="listen address (default: tpf.http.host, 127.0.0.1)")
    serve.add_argument("--port", type=int, help="listen port (default: tpf.http.port, 8081)")
    serve.add_argument(
        "--loop",
        choices=EVENT_LOOPS,
        help="event loop (default: tpf.http.event-loop, uvloop); asyncio is always there",
    )
    logs.add_arguments(serve)
    serve.set_defaults(handler=_run)
