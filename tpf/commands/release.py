"""``tpf release build``: build a pipeline's release artifact and descriptor."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from typing import Any

from tpf.pipeline import Pipeline
from tpf.releases import build_release


def load_pipeline(ref: str) -> Pipeline:
    """Import ``MODULE:ATTR`` and return the :class:`Pipeline` it names.

    The working directory is searched first, as ``python -m`` does: the ``tpf`` console
    script's own directory is on ``sys.path`` instead, so a user's module next to them would
    otherwise need ``PYTHONPATH=.``."""
    module_name, _, attr = ref.partition(":")
    if not module_name or not attr:
        raise SystemExit(f"--pipeline must look like MODULE:ATTR, got {ref!r}")
    cwd = os.getcwd()
    if cwd not in sys.path and "" not in sys.path:
        sys.path.insert(0, cwd)
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise SystemExit(f"--pipeline: cannot import {module_name!r}: {exc}") from None
    pipeline = getattr(module, attr, None)
    if not isinstance(pipeline, Pipeline):
        raise SystemExit(f"--pipeline: {ref} is not a tpf.pipeline.Pipeline")
    return pipeline


def _build(args: argparse.Namespace) -> int:
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


def register(commands: Any) -> None:
    release = commands.add_parser("release", help="build pipeline releases")
    release_commands = release.add_subparsers(dest="release_command", required=True)
    build = release_commands.add_parser("build", help="build a release artifact and descriptor")
    build.add_argument("--pipeline", required=True, help="MODULE:ATTR of the Pipeline")
    build.add_argument("--output", required=True, help="directory to write into")
    build.add_argument("--release-version", help="default: the contract version")
    build.add_argument("--artifact-id", help="default: <last part of pipelineId>-pipeline")
    build.set_defaults(handler=_build)
