"""``tpf dev``: a ready development coordinator in one command (and ``tpf dev aws``).

``tpf dev --pipeline MODULE:ATTR [--tenant T] [--port P] [--state-dir D] [--config FILE]`` does
what the manual runbook does, the way ``temporal server start-dev`` does: it loads the
configuration as ``tpf serve`` does, turns on both REST surfaces with generated tokens (kept in
``<state dir>/dev-tokens.json``, so the printed exports stay valid across restarts), builds
each pipeline's release under ``<state dir>/dev-releases/``, hosts its code, registers and
activates the release for the tenant (default ``pipeline.orchestrator.default-tenant``) and
lets the coordinator register and heartbeat the worker record of the code it hosts
(idempotently: a restart re-registers the same records). Then it
prints the ``export`` lines for the ``tpf`` CLI and a first submit command, and serves until
Ctrl-C or SIGTERM, like ``tpf serve``.

``tpf dev aws`` (:mod:`tpf.cli.aws`) is the other development service: a local AWS.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import secrets
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tpf.authoring.pipeline import Pipeline
from tpf.cli import aws
from tpf.cli.release import load_pipeline
from tpf.cli.serve import run_server, serve_until_stopped
from tpf.config import load_settings
from tpf.config.settings import Settings
from tpf.core.errors import ConfigError, StoreUnusable
from tpf.dev.samples import accepted, sample_json
from tpf.engine import logs
from tpf.engine.releases import build_release

if TYPE_CHECKING:
    from tpf.coordinator import Coordinator
    from tpf.transports.workers.local import LocalTransitionWorker

LOG = logging.getLogger("tpf.dev")
TOKENS_FILE = "dev-tokens.json"
_P = "pipeline.orchestrator."


@dataclass
class Hosted:
    """One ``--pipeline``: its code, its built release and, once hosted, its worker."""

    ref: str
    pipeline: Pipeline
    descriptor: Path
    release_version: str
    worker: LocalTransitionWorker | None = None
    worker_id: str = ""  # the lifecycle record the coordinator keeps for the hosted code


def dev_tokens(state_dir: str) -> dict[str, str]:
    """The dev tokens of ``state_dir``, generated (owner-only file) on first use."""
    path = Path(state_dir) / TOKENS_FILE
    try:
        tokens = json.loads(path.read_text())
        if isinstance(tokens, dict) and all(
            isinstance(tokens.get(k), str) and tokens[k] for k in ("controlPlane", "admin")
        ):
            return {k: str(tokens[k]) for k in ("controlPlane", "admin")}
    except (OSError, ValueError):
        pass  # absent or damaged: make new ones
    tokens = {"controlPlane": secrets.token_urlsafe(24), "admin": secrets.token_urlsafe(24)}
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(tokens, fh)
    return tokens


def dev_settings(args: argparse.Namespace) -> Settings:
    """The configuration as ``tpf serve`` loads it, with both surfaces on behind dev tokens."""
    overrides: dict[str, str] = {}
    if args.state_dir:
        overrides["tpf.state-dir"] = args.state_dir
    if args.port is not None:
        overrides["tpf.http.port"] = str(args.port)
    # First without the surfaces, only to learn where the state (and so the tokens) lives.
    off = {_P + "control-plane.enabled": "false", _P + "admin.enabled": "false"}
    state_dir = load_settings(config_file=args.config, overrides={**overrides, **off}).state.dir
    tokens = dev_tokens(state_dir)
    for surface, token in (("control-plane", tokens["controlPlane"]), ("admin", tokens["admin"])):
        overrides[f"{_P}{surface}.enabled"] = "true"
        overrides[f"{_P}{surface}.admin-token"] = token
        overrides[f"{_P}{surface}.admin-token-ref"] = ""  # empty is unset: the token wins
    overrides[_P + "control-plane.require-remote-worker"] = "false"  # dev hosts the code
    return load_settings(config_file=args.config, overrides=overrides)


def _build(ref: str, settings: Settings) -> Hosted:
    pipeline = load_pipeline(ref)
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", pipeline.pipeline_id)
    out = Path(settings.state.dir) / "dev-releases" / safe
    descriptor = build_release(pipeline, out, module_ref=ref)
    version = str(json.loads(descriptor.read_text())["releaseVersion"])
    return Hosted(ref, pipeline, descriptor, version)


def first_submit(pipeline: Pipeline) -> str:
    """A ``tpf executions submit`` command the coordinator accepts as printed."""
    command = f"tpf executions submit --pipeline-id {shlex.quote(pipeline.pipeline_id)}"
    first = pipeline.steps[0].input_type
    value = sample_json(first)
    if not accepted(first, value):
        value = {}  # a type the placeholders cannot satisfy: the user fills it in
    text = json.dumps(value, separators=(",", ":"))
    return f"{command} --input {shlex.quote(text)}"


def banner(settings: Settings, tenant: str, port: int, hosted: list[Hosted]) -> list[str]:
    host = "127.0.0.1" if settings.http.host in ("0.0.0.0", "::", "") else settings.http.host
    base_url = f"http://{host}:{port}"
    lines = [f"tpf dev: coordinator ready at {base_url} (tenant {tenant}, state in "
             f"{settings.state.dir})"]  # fmt: skip
    for h in hosted:
        lines.append(
            f"  {h.pipeline.pipeline_id}: release {h.release_version} active, "
            f"local worker {h.worker_id} registered ({h.ref})"
        )
    exports = {
        "TPF_BASE_URL": base_url,
        "TPF_TENANT": tenant,
        "TPF_CONTROL_PLANE_TOKEN": settings.control_plane.token or "",
        "TPF_ADMIN_TOKEN": settings.admin.token or "",
    }
    lines += ["", "# the tpf CLI, from another shell:"]
    lines += [f"export {name}={shlex.quote(value)}" for name, value in exports.items()]
    lines += ["", "# a first execution (placeholder input from the first step's type):"]
    lines += [first_submit(h.pipeline) for h in hosted]
    lines += ["", "Ctrl-C stops it; state is kept for the next start."]
    return lines


async def _dev(args: argparse.Namespace) -> int:
    from tpf.coordinator import Coordinator

    try:
        settings = dev_settings(args)
        hosted = [_build(ref, settings) for ref in args.pipeline]
        coordinator = await Coordinator.open(settings)
    except ConfigError as exc:
        print(f"tpf dev: invalid configuration: {exc}", file=sys.stderr)
        return 2
    except StoreUnusable as exc:  # another coordinator holds the state, or it is unusable
        print(f"tpf dev: {exc}", file=sys.stderr)
        return 1
    tenant = args.tenant or settings.execution.default_tenant

    def host(c: Coordinator) -> None:
        for h in hosted:
            h.worker = c.host(h.pipeline, release_version=h.release_version)

    async def prepare(c: Coordinator) -> None:
        for h in hosted:
            pid = h.pipeline.pipeline_id
            release = await c.register_release(tenant, pid, str(h.descriptor))
            await c.activate_release(tenant, pid, release.release_version)
            # Registering/activating through the coordinator announces the tenant to its hosted
            # workers, which register and heartbeat their own record
            # (tpf/supervisors/hosted_workers).
            assert h.worker is not None  # hosted before start
            h.worker_id = c.hosted.worker_id(h.worker.identity)
            await c.hosted.tick()  # the record exists before the banner says so
            LOG.info("%s: release %s active for tenant %s", pid, release.release_version, tenant)

    def started(port: int) -> None:
        print("\n".join(banner(settings, tenant, port, hosted)), flush=True)

    await serve_until_stopped(
        coordinator, host=host, prepare=prepare, started=started, access_log=args.access_log
    )
    print("tpf dev: stopped", flush=True)
    return 0


def _run(args: argparse.Namespace) -> int:
    if not args.pipeline:
        print(
            "tpf dev: error: --pipeline MODULE:ATTR is required (or `tpf dev aws` for a local "
            "AWS; see tpf dev --help)",
            file=sys.stderr,
        )
        return 2
    return run_server("dev", _dev, args)


def register(commands: Any) -> None:
    dev = commands.add_parser(
        "dev",
        help="a ready development coordinator (tpf dev --pipeline M:A), or tpf dev aws",
        description="Start a development coordinator: tokens, release, worker, all set up.",
    )
    dev.add_argument(
        "--pipeline",
        action="append",
        metavar="MODULE:ATTR",
        help="the pipeline to host, release and activate (repeatable)",
    )
    dev.add_argument("--tenant", help="default: pipeline.orchestrator.default-tenant (default)")
    dev.add_argument("--port", type=int, help="listen port (default: tpf.http.port, 8081)")
    dev.add_argument("--state-dir", help="default: tpf.state-dir (.tpf)")
    dev.add_argument("--config", help=".properties file (default: $TPF_CONFIG)")
    logs.add_arguments(dev)
    dev.set_defaults(handler=_run)
    services = dev.add_subparsers(dest="dev_command", metavar="{aws}", required=False)
    aws.register_dev(services)
