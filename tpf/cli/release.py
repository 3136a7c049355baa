"""``tpf release build``: build a pipeline's release artifact and descriptor.

A pipeline reference is ``MODULE:ATTR``, optionally ``MODULE:ATTR@RELEASE_VERSION``; the same
syntax names what ``tpf serve --pipeline`` hosts, so one string says "this code, as this
release" on both sides. Without a version the release version is the code digest
(tpf/release_code.py), which the build and a coordinator hosting the same code agree on.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence
from typing import Any

from tpf.authoring.code import pipeline_code
from tpf.authoring.pipeline import Pipeline
from tpf.engine.releases import build_release


def split_ref(ref: str) -> tuple[str, str | None]:
    """``MODULE:ATTR@VERSION`` -> ``("MODULE:ATTR", "VERSION")``; no ``@`` -> version ``None``.

    Module paths and attribute names cannot contain ``@``, so the first one starts the version
    (which may contain ``:`` and ``@``, e.g. ``sha256:...``).
    """
    target, at, version = ref.partition("@")
    if at and not version.strip():
        raise SystemExit(f"--pipeline {ref!r}: nothing after '@' (expected a release version)")
    return target, version.strip() if at else None


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


def hosted_pipelines(
    refs: Sequence[str], release_version: str | None
) -> list[tuple[Pipeline, str | None]]:
    """What ``tpf serve --pipeline REF ... [--release-version V]`` hosts: (pipeline, version).

    ``--release-version`` is shorthand for ``@V`` on a lone ``--pipeline``; with several it
    would be ambiguous, so it is refused. Two references that would host the same
    (pipelineId, contractVersion, releaseVersion) are refused too: only one could run it.
    """
    if release_version is not None and len(refs) != 1:
        raise SystemExit(
            "--release-version applies to exactly one --pipeline; with several, give each its "
            "version as --pipeline MODULE:ATTR@VERSION"
        )
    hosted: list[tuple[Pipeline, str | None]] = []
    seen: dict[tuple[str, str, str], str] = {}
    for ref in refs:
        target, version = split_ref(ref)
        if release_version is not None:
            if version is not None and version != release_version.strip():
                raise SystemExit(f"--pipeline {ref} and --release-version {release_version} differ")
            version = release_version.strip() or None
        pipeline = load_pipeline(target)
        code = pipeline_code(pipeline)
        identity = (pipeline.pipeline_id, code.contract_version, version or code.digest)
        if identity in seen:
            raise SystemExit(
                f"--pipeline {ref} and --pipeline {seen[identity]} would both host "
                f"pipelineId={identity[0]} releaseVersion={identity[2]}"
            )
        seen[identity] = ref
        hosted.append((pipeline, version))
    return hosted


def _build(args: argparse.Namespace) -> int:
    target, version = split_ref(args.pipeline)
    if version is not None and args.release_version not in (None, version):
        raise SystemExit(f"--pipeline {args.pipeline} and --release-version differ")
    pipeline = load_pipeline(target)
    path = build_release(
        pipeline,
        args.output,
        release_version=version or args.release_version,
        artifact_id=args.artifact_id,
        module_ref=target,
    )
    print(path)
    return 0


def register(commands: Any) -> None:
    release = commands.add_parser("release", help="build pipeline releases")
    release_commands = release.add_subparsers(dest="release_command", required=True)
    build = release_commands.add_parser("build", help="build a release artifact and descriptor")
    build.add_argument(
        "--pipeline", required=True, help="MODULE:ATTR of the Pipeline (or MODULE:ATTR@VERSION)"
    )
    build.add_argument("--output", required=True, help="directory to write into")
    build.add_argument(
        "--release-version",
        help="default: the code digest, the version tpf serve hosts this code as by default",
    )
    build.add_argument("--artifact-id", help="default: <last part of pipelineId>-pipeline")
    build.set_defaults(handler=_build)
