"""The build side of releases (spec §5.2): a pipeline's deterministic artifact and descriptor.

:func:`build_release` packs the pipeline's contract and source code (tpf/release_code.py) into a
deterministic ZIP artifact (same code, same bytes, same digest, wherever and whenever it is
built) and writes ``pipeline-release.json`` pinning that digest. The coordinator side, which
validates and records what this writes, is :mod:`tpf.engine.releases`.
"""

from __future__ import annotations

import hashlib
import io
import os
import tempfile
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import orjson

from tpf.authoring.code import CODE_MANIFEST_ENTRY, pipeline_code, pipeline_ref
from tpf.authoring.contract import contract_to_json

if TYPE_CHECKING:
    from tpf.authoring.pipeline import Pipeline

CONTRACT_ENTRY = "META-INF/pipeline/pipeline-contract.json"
PIPELINE_REF_ENTRY = "META-INF/tpf/pipeline-ref.txt"
DESCRIPTOR_NAME = "pipeline-release.json"
ARTIFACT_SUFFIX = ".tpfa"
_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)  # the earliest ZIP timestamp: fixed so builds are reproducible


def build_release(
    pipeline: Pipeline,
    output_dir: str | os.PathLike[str],
    *,
    release_version: str | None = None,
    artifact_id: str | None = None,
    module_ref: str | None = None,
) -> Path:
    """Write ``<artifact_id>.tpfa`` and ``pipeline-release.json``; return the latter's path.

    The artifact holds the contract, the pipeline's source files and a code manifest listing
    them (tpf/release_code.py); the default ``releaseVersion`` is the code digest, the version a
    coordinator hosting the same code in-process serves. The descriptor names the artifact
    relative to itself, so the same code built in two directories gives identical files.
    """
    contract = pipeline.contract()
    code = pipeline_code(pipeline)
    out = Path(output_dir).resolve()
    out.mkdir(parents=True, exist_ok=True)
    artifact_id = artifact_id or pipeline.pipeline_id.rsplit(".", 1)[-1] + "-pipeline"
    entries = dict(code.files)
    entries[CONTRACT_ENTRY] = contract_to_json(contract, pipeline)
    entries[CODE_MANIFEST_ENTRY] = orjson.dumps(
        code.manifest(), option=orjson.OPT_SORT_KEYS | orjson.OPT_INDENT_2
    )
    # Where the pipeline lives in that code, derived from the code when it can be (the same
    # bytes however the build was invoked); else the caller's MODULE:ATTR.
    ref = pipeline_ref(pipeline) or (module_ref or "").strip()
    if ref:
        entries[PIPELINE_REF_ENTRY] = (ref + "\n").encode()
    artifact_path = out / f"{artifact_id}{ARTIFACT_SUFFIX}"
    _atomic_write(artifact_path, _deterministic_zip(entries))
    descriptor = {
        "schemaVersion": 1,
        "pipelineId": pipeline.pipeline_id,
        "contractVersion": contract.contract_version,
        "releaseVersion": (release_version or "").strip() or code.digest,
        "artifacts": [
            {
                "artifactId": artifact_id,
                "kind": "jar",
                "uri": artifact_path.name,  # relative to this descriptor: no build path
                "digest": sha256_file(artifact_path),
                "codeDigest": code.digest,
                "stepIds": [step.name for step in pipeline.steps],
                "capabilities": ["local-transition-execution"],
            }
        ],
    }
    descriptor_path = out / DESCRIPTOR_NAME
    _atomic_write(descriptor_path, orjson.dumps(descriptor, option=orjson.OPT_INDENT_2) + b"\n")
    return descriptor_path


def _deterministic_zip(entries: Mapping[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name in sorted(entries):
            info = zipfile.ZipInfo(name, date_time=_ZIP_EPOCH)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            info.create_system = 3  # unix, regardless of the building host
            archive.writestr(info, entries[name])
    return buffer.getvalue()


def _atomic_write(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def sha256_file(path: str | os.PathLike[str]) -> str:
    """``sha256:<hex>`` of a file, streamed."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return "sha256:" + digest.hexdigest()
