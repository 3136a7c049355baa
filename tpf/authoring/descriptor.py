"""The shape of a release descriptor (``pipeline-release.json``, spec §5.3), checked before any
of its values is trusted or quoted.

Until a file has proved to be a release descriptor, an error names what is wrong with its shape
but never echoes its values: any JSON file on the coordinator's host could otherwise be read
through the error of a registration by path (:mod:`tpf.engine.releases`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tpf.core.errors import ValidationError

LOCAL_KINDS = frozenset({"jar", "local-file", "native-binary", "lambda-zip"})
REMOTE_KINDS = frozenset({"container-image", "lambda-image", "external-endpoint"})
ARTIFACT_KINDS = LOCAL_KINDS | REMOTE_KINDS
_HEX = frozenset("0123456789abcdef")


def validate_descriptor(descriptor: dict[str, Any], pipeline_id: str) -> None:
    """Check the descriptor's shape, then that it is the requested pipeline's.

    Until the shape checks out the file may be any JSON file on the server, so those messages
    name fields and what they must be, never the values found.
    """
    version = descriptor.get("schemaVersion")
    if version != 1 or isinstance(version, bool):
        raise ValidationError("unsupported release descriptor schemaVersion (expected 1)")
    for name in ("pipelineId", "contractVersion", "releaseVersion"):
        _require_text(descriptor, name, f"release descriptor {name}")
    artifacts = descriptor.get("artifacts")
    if not isinstance(artifacts, list) or not artifacts:
        raise ValidationError("release descriptor must list at least one artifact")
    for i, artifact in enumerate(artifacts):
        where = f"artifacts[{i}]"
        if not isinstance(artifact, dict):
            raise ValidationError(f"{where} must be an object")
        for name in ("artifactId", "kind", "uri", "digest"):
            _require_text(artifact, name, f"{where}.{name}")
        if artifact["kind"] not in ARTIFACT_KINDS:
            raise ValidationError(
                f"{where}.kind is not supported "
                f"(expected one of {', '.join(sorted(ARTIFACT_KINDS))})"
            )
        check_digest(artifact["digest"], f"{where}.digest")
        if "codeDigest" in artifact:  # ours only: the digest of the code the artifact carries
            code_digest = artifact["codeDigest"]
            if not isinstance(code_digest, str):
                raise ValidationError(f"{where}.codeDigest must be a string")
            check_digest(code_digest, f"{where}.codeDigest")
        for name in ("stepIds", "capabilities"):
            values = artifact.get(name, [])
            if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
                raise ValidationError(f"{where}.{name} must be an array of strings")
    # A release descriptor now: naming what it says helps the operator who sent the wrong one.
    if descriptor["pipelineId"] != pipeline_id:
        raise ValidationError(
            f"release descriptor pipelineId {descriptor['pipelineId']!r} does not match "
            f"the requested pipelineId {pipeline_id!r}"
        )


def check_digest(digest: str, label: str) -> None:
    if not digest.startswith("sha256:"):
        raise ValidationError(f"{label} must start with 'sha256:'")
    hex_part = digest.removeprefix("sha256:")
    if len(hex_part) != 64 or not set(hex_part) <= _HEX:
        raise ValidationError(f"{label} must be 'sha256:' + 64 lowercase hex")


def _require_text(obj: Mapping[str, Any], name: str, label: str) -> None:
    value = obj.get(name)
    if not isinstance(value, str) or not value.strip():
        raise ValidationError(f"{label} is required (a non-blank string)")
