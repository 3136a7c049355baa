"""The ``tpf`` command.

Subcommands so far:

- ``tpf release build --pipeline MODULE:ATTR --output DIR``: build a pipeline's release artifact
  and ``DIR/pipeline-release.json``; prints the descriptor's absolute path.
- ``tpf config check [--config FILE]``: load the configuration exactly as a coordinator would,
  print the effective non-default settings and warnings, exit 2 on an invalid configuration.

The REST edge (``tpf serve``) and the operator subcommands arrive with the next issue.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from tpf import __version__
from tpf.config import describe, load_settings, unsupported_warnings
from tpf.errors import ConfigError
from tpf.pipeline import Pipeline
from tpf.releases import build_release


def load_pipeline(ref: str) -> Pipeline:
    """Import ``MODULE:ATTR`` and return the :class:`Pipeline` it names."""
    module_name, _, attr = ref.partition(":")
    if not module_name or not attr:
        raise SystemExit(f"--pipeline must look like MODULE:ATTR, got {ref!r}")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise SystemExit(f"--pipeline: cannot import {module_name!r}: {exc}") from None
    pipeline = getattr(module, attr, None)
    if not isinstance(pipeline, Pipeline):
        raise SystemExit(f"--pipeline: {ref} is not a tpf.pipeline.Pipeline")
    return pipeline


def _release_build(args: argparse.Namespace) -> int:
    pipeline = load_pipeline(args.pipeline)
    path = build_release(
        pipeline,
        args.output,
        release_version=args.release_version,
        artifact_id=args.artifact_id,
        module_ref=args.pipeline,
    )
    print(path)
    return 0


def _config_check(args: argparse.Namespace) -> int:
    try:
        settings = load_settings(config_file=args.config)
    except ConfigError as exc:
        print(f"invalid configuration: {exc}", file=sys.stderr)
        return 2
    for line in describe(settings) or ["(all defaults)"]:
        print(line)
    for line in unsupported_warnings(settings):
        print(f"warning: {line}", file=sys.stderr)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tpf", description="tpf-coordinator")
    parser.add_argument("--version", action="version", version=f"tpf {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    release = commands.add_parser("release", help="build pipeline releases")
    release_commands = release.add_subparsers(dest="release_command", required=True)
    build = release_commands.add_parser("build", help="build a release artifact and descriptor")
    build.add_argument("--pipeline", required=True, help="MODULE:ATTR of the Pipeline")
    build.add_argument("--output", required=True, help="directory to write into")
    build.add_argument("--release-version", help="default: the contract version")
    build.add_argument("--artifact-id", help="default: <last part of pipelineId>-pipeline")
    build.set_defaults(handler=_release_build)

    config = commands.add_parser("config", help="inspect the configuration")
    config_commands = config.add_subparsers(dest="config_command", required=True)
    check = config_commands.add_parser("check", help="validate and print the configuration")
    check.add_argument("--config", help=".properties file (default: $TPF_CONFIG)")
    check.set_defaults(handler=_config_check)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    code: int = args.handler(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
