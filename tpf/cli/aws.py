"""``tpf bootstrap aws`` and ``tpf dev aws``: AWS-shaped resources for development and tests.

- ``tpf bootstrap aws [--endpoint-url URL] [--config FILE]`` creates the queues, bucket and
  DynamoDB tables the configuration names (idempotently), adds missing indexes to tables that
  exist (the original's layout, say), and prints what it created.
- ``tpf dev aws [--port N] [--config FILE]`` runs a moto server on 127.0.0.1, bootstraps it and
  prints the properties and environment a coordinator needs to use it, until Ctrl-C (or SIGTERM).
  Without a configuration that names AWS providers it sets up the recipe's durable shape
  (DynamoDB state, SQS work queue and DLQ, S3 artifacts). moto is the optional ``dev`` extra.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import socket
import sys
import threading
from dataclasses import replace
from types import FrameType
from typing import Any

from tpf.aws.bootstrap import bootstrap_aws
from tpf.aws.clients import AwsClients, needs_aws
from tpf.config import load_settings
from tpf.config.settings import Settings
from tpf.core.errors import ConfigError

# Local endpoints accept any credentials, but botocore refuses to sign without some.
FAKE_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
LOCAL_REGION = "us-east-1"
MOTO_ACCOUNT = "123456789012"  # the account moto serves
DEFAULT_QUEUE, DEFAULT_DLQ = "tpf-work", "tpf-execution-dlq"
DEFAULT_BUCKET = "tpf-release-artifacts"


def at_endpoint(settings: Settings, url: str) -> Settings:
    """``settings`` with every AWS endpoint override pointing at ``url`` (path-style S3, since
    local S3-compatible endpoints do not serve virtual-hosted buckets)."""
    return replace(
        settings,
        dynamo=replace(settings.dynamo, endpoint_override=url),
        sqs=replace(settings.sqs, endpoint_override=url),
        s3=replace(settings.s3, endpoint_override=url, path_style_access=True),
    )


def _use_fake_credentials() -> None:
    if not os.environ.get("AWS_ACCESS_KEY_ID"):
        os.environ.update(FAKE_CREDENTIALS)


async def _bootstrap(settings: Settings) -> list[str]:
    aws = AwsClients(settings)
    try:
        return await bootstrap_aws(settings, aws)
    finally:
        await aws.close()


def _load(config: str | None) -> Settings | None:
    try:
        return load_settings(config_file=config)
    except ConfigError as exc:
        print(f"invalid configuration: {exc}", file=sys.stderr)
        return None


def _run_bootstrap(settings: Settings) -> int:
    try:
        created = asyncio.run(_bootstrap(settings))
    except ConfigError as exc:
        print(f"invalid configuration: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:
        # A store error keeps its detail (the endpoint, botocore's words) off its message.
        detail = getattr(exc, "detail", None) or exc
        print(f"bootstrap failed: {type(exc).__name__}: {detail}", file=sys.stderr)
        return 1
    for line in created or ["nothing to create"]:
        print(line)
    return 0


def _bootstrap_command(args: argparse.Namespace) -> int:
    settings = _load(args.config)
    if settings is None:
        return 2
    if not needs_aws(settings):
        print("the configuration names no AWS provider: nothing to create")
        return 0
    if args.endpoint_url:
        settings = at_endpoint(settings, args.endpoint_url)
        _use_fake_credentials()
    return _run_bootstrap(settings)


# ---------------------------------------------------------------------------- tpf dev aws


def dev_settings(settings: Settings, endpoint: str) -> Settings:
    """What ``tpf dev aws`` bootstraps: the configuration at ``endpoint``, or the recipe's
    durable shape if it names no AWS provider, with default names filled in."""
    if not needs_aws(settings):
        settings = replace(
            settings,
            state=replace(settings.state, provider="dynamo"),
            work_queue=replace(settings.work_queue, provider="sqs"),
            dlq=replace(settings.dlq, provider="sqs"),
            releases=replace(settings.releases, registry_provider="dynamo", storage_provider="s3"),
            workers=replace(settings.workers, lifecycle_provider="dynamo"),
            sqs=replace(settings.sqs, local_loopback=False),
        )
    base = f"{endpoint}/{MOTO_ACCOUNT}"
    return at_endpoint(
        replace(
            settings,
            sqs=replace(
                settings.sqs,
                queue_url=settings.sqs.queue_url or f"{base}/{DEFAULT_QUEUE}",
                dlq_url=settings.sqs.dlq_url or f"{base}/{DEFAULT_DLQ}",
                region=settings.sqs.region or LOCAL_REGION,
            ),
            s3=replace(
                settings.s3,
                bucket=settings.s3.bucket or DEFAULT_BUCKET,
                region=settings.s3.region or LOCAL_REGION,
            ),
            dynamo=replace(settings.dynamo, region=settings.dynamo.region or LOCAL_REGION),
        ),
        endpoint,
    )


def snippet(settings: Settings, endpoint: str) -> list[str]:
    """A ``.properties`` block and the environment exports that use the local endpoint."""
    p = "pipeline.orchestrator."
    props = {
        p + "state-provider": settings.state.provider,
        p + "dispatcher-provider": settings.work_queue.provider,
        p + "dlq-provider": settings.dlq.provider,
        p + "releases.registry.provider": settings.releases.registry_provider,
        p + "releases.storage.provider": settings.releases.storage_provider,
        p + "worker.lifecycle.provider": settings.workers.lifecycle_provider,
        p + "queue-url": settings.sqs.queue_url,
        p + "dlq-url": settings.sqs.dlq_url,
        p + "sqs.local-loopback": str(settings.sqs.local_loopback).lower(),
        p + "dynamo.region": settings.dynamo.region,
        p + "dynamo.endpoint-override": endpoint,
        p + "sqs.region": settings.sqs.region,
        p + "sqs.endpoint-override": endpoint,
        p + "releases.storage.s3.bucket": settings.s3.bucket,
        p + "releases.storage.s3.region": settings.s3.region,
        p + "releases.storage.s3.endpoint-override": endpoint,
        p + "releases.storage.s3.path-style-access": "true",
        # The local endpoint accepts any credentials but botocore signs with some: the block
        # works on its own, with no AWS_* variables.
        "tpf.aws.access-key-id": FAKE_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        "tpf.aws.secret-access-key": FAKE_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
    }
    lines = ["# properties (save as a .properties file and pass --config / TPF_CONFIG):"]
    lines += [f"{key}={value}" for key, value in props.items() if value is not None]
    lines += ["", "# or the environment:"]
    lines += [
        f"export {key.upper().replace('.', '_').replace('-', '_')}={value}"
        for key, value in props.items()
        if value is not None
    ]
    return lines


def _dev_command(args: argparse.Namespace) -> int:
    try:
        from tpf.dev.moto import AtomicMotoServer
    except ImportError:
        print(
            "tpf dev aws needs moto's server: pip install 'tpf-coordinator[dev]' "
            "(or pip install 'moto[server]>=5.0')",
            file=sys.stderr,
        )
        return 2
    loaded = _load(args.config)
    if loaded is None:
        return 2
    _use_fake_credentials()
    if args.port:
        # moto's server thread dies silently on a taken port and start() then waits forever.
        try:
            with socket.socket() as probe:
                probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                probe.bind(("127.0.0.1", args.port))
        except OSError as exc:
            print(f"cannot listen on 127.0.0.1:{args.port}: {exc}", file=sys.stderr)
            return 1
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no access line per AWS call
    server = AtomicMotoServer(ip_address="127.0.0.1", port=args.port, verbose=False)
    server.start()
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = signal.signal(signal.SIGTERM, on_signal)
    try:
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        settings = dev_settings(loaded, endpoint)
        status = _run_bootstrap(settings)
        if status != 0:
            return status
        print()
        for line in snippet(settings, endpoint):
            print(line)
        print(f"\nmoto is serving AWS on {endpoint} (state is in memory); Ctrl-C stops it")
        sys.stdout.flush()
        try:
            while not stop.wait(0.5):  # a timed wait, so Ctrl-C is delivered promptly
                pass
        except KeyboardInterrupt:
            pass
        print("stopped", flush=True)
        return 0
    finally:
        signal.signal(signal.SIGTERM, previous)
        server.stop()


def register(commands: Any) -> None:
    bootstrap = commands.add_parser("bootstrap", help="create the resources a configuration names")
    bootstrap_commands = bootstrap.add_subparsers(dest="bootstrap_command", required=True)
    aws = bootstrap_commands.add_parser(
        "aws",
        help="create the SQS queues, S3 bucket and DynamoDB tables and indexes (idempotent)",
    )
    aws.add_argument("--endpoint-url", help="send every AWS call here (moto, LocalStack, MinIO)")
    aws.add_argument("--config", help=".properties file (default: $TPF_CONFIG)")
    aws.set_defaults(handler=_bootstrap_command)
    from tpf.cli.kafka import register_bootstrap  # tpf bootstrap kafka, beside it

    register_bootstrap(bootstrap_commands)


def register_dev(dev_commands: Any) -> None:
    """``tpf dev aws``, under the ``tpf dev`` parser of :mod:`tpf.cli.dev`."""
    dev_aws = dev_commands.add_parser("aws", help="run a bootstrapped moto server on 127.0.0.1")
    dev_aws.add_argument("--port", type=int, default=4566, help="0 picks a free port")
    dev_aws.add_argument("--config", help=".properties file (default: $TPF_CONFIG)")
    dev_aws.set_defaults(handler=_dev_command)
