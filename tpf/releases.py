"""Release artifacts and their registration (spec §5.2-§5.4).

:func:`build_release` is the build side: it packs the pipeline's contract and source code into a
deterministic ZIP artifact (same code, same bytes, same digest) and writes
``pipeline-release.json`` pinning that digest. :class:`ReleaseRegistrar` is the coordinator
side: it validates a descriptor on the coordinator's filesystem, copies local artifacts into the
artifact store, and records the immutable release; activation re-verifies the stored artifact
first.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import os
import tempfile
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlparse

import msgspec
import orjson

from tpf.contract import contract_to_json, parse_contract
from tpf.errors import NotFound, ValidationError
from tpf.records import ReleaseRecord, ReleaseStatus
from tpf.release_code import (
    CODE_MANIFEST_ENTRY,
    artifact_code_digest,
    pipeline_code,
    pipeline_ref,
)

if TYPE_CHECKING:
    from tpf.clock import Clock
    from tpf.pipeline import Pipeline
    from tpf.stores.base import ArtifactStore, ReleaseStore

CONTRACT_ENTRY = "META-INF/pipeline/pipeline-contract.json"
PIPELINE_REF_ENTRY = "META-INF/tpf/pipeline-ref.txt"
DESCRIPTOR_NAME = "pipeline-release.json"
ARTIFACT_SUFFIX = ".tpfa"
LOCAL_KINDS = frozenset({"jar", "local-file", "native-binary", "lambda-zip"})
REMOTE_KINDS = frozenset({"container-image", "lambda-image", "external-endpoint"})
ARTIFACT_KINDS = LOCAL_KINDS | REMOTE_KINDS
_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)  # the earliest ZIP timestamp: fixed so builds are reproducible
_HEX = frozenset("0123456789abcdef")


# --------------------------------------------------------------------------- build side


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


# --------------------------------------------------------------------------- registration


class _LocalArtifact(msgspec.Struct, frozen=True):
    """What validating one local artifact file found."""

    path: str
    contract: dict[str, Any] | None


class ReleaseRegistrar:
    """Validates release descriptors, stores their artifacts, registers and activates releases."""

    def __init__(self, releases: ReleaseStore, artifacts: ArtifactStore, clock: Clock) -> None:
        self._releases = releases
        self._artifacts = artifacts
        self._clock = clock

    async def register(
        self, tenant_id: str, pipeline_id: str, descriptor_path: str
    ) -> ReleaseRecord:
        """Validate the descriptor at ``descriptor_path`` and register its release (spec §5.3).

        Re-registering identical metadata returns the stored record; a different release under
        the same ``releaseVersion`` raises the store's :class:`~tpf.errors.Conflict`.
        """
        if not descriptor_path or not descriptor_path.strip():
            raise ValidationError("releaseDescriptorPath is required")
        # File reads and hashing block; keep them off the event loop.
        descriptor = await asyncio.to_thread(_read_descriptor, descriptor_path)
        _validate_descriptor(descriptor, pipeline_id)
        base_dir = Path(descriptor_path).parent
        primary: tuple[dict[str, Any], str, int, dict[str, Any] | None] | None = None
        first: tuple[dict[str, Any], str, int, dict[str, Any] | None] | None = None
        for i, artifact in enumerate(descriptor["artifacts"]):
            uri, size, contract = artifact["uri"], 0, None
            if artifact["kind"] in LOCAL_KINDS:
                local = await asyncio.to_thread(_inspect_local, i, artifact, base_dir, descriptor)
                uri, size = await self._artifacts.put_file(local.path, artifact["digest"])
                contract = local.contract
            entry = (artifact, uri, size, contract)
            first = first or entry
            if contract is not None:
                primary = entry  # the last artifact carrying a contract wins
        chosen = primary or first
        assert chosen is not None  # _validate_descriptor guarantees at least one artifact
        artifact, uri, size, contract = chosen
        now = self._clock.now_ms()
        record = ReleaseRecord(
            tenant_id=tenant_id,
            pipeline_id=pipeline_id,
            contract_version=descriptor["contractVersion"],
            release_version=descriptor["releaseVersion"],
            status=ReleaseStatus.REGISTERED,
            descriptor=descriptor,
            primary_artifact_id=artifact["artifactId"],
            primary_artifact_digest=artifact["digest"],
            primary_artifact_uri=uri,
            primary_artifact_size_bytes=size,
            primary_artifact_checksum=artifact["digest"],
            contract=contract,
            created_at_epoch_ms=now,
            updated_at_epoch_ms=now,
        )
        return await self._releases.register(record)

    async def activate(
        self, tenant_id: str, pipeline_id: str, release_version: str
    ) -> ReleaseRecord:
        """Make the release the one new executions use, after re-verifying its stored artifact."""
        record = await self._releases.get(tenant_id, pipeline_id, release_version)
        if record is None:
            raise NotFound(f"release {release_version} of pipeline {pipeline_id} is not registered")
        await self.verify(record)
        return await self._releases.activate(
            tenant_id, pipeline_id, release_version, self._clock.now_ms()
        )

    async def verify(self, record: ReleaseRecord) -> None:
        """Raise :class:`~tpf.errors.Conflict` unless a local primary artifact is intact."""
        if primary_artifact_kind(record) in LOCAL_KINDS:
            await self._artifacts.verify(
                record.primary_artifact_uri,
                record.primary_artifact_checksum,
                record.primary_artifact_size_bytes,
            )


def primary_artifact_kind(record: ReleaseRecord) -> str | None:
    """The descriptor ``kind`` of the record's primary artifact."""
    for artifact in record.descriptor.get("artifacts", ()):
        if isinstance(artifact, dict) and artifact.get("artifactId") == record.primary_artifact_id:
            kind = artifact.get("kind")
            return kind if isinstance(kind, str) else None
    return None


def _read_descriptor(descriptor_path: str) -> dict[str, Any]:
    path = Path(descriptor_path)
    if not path.is_absolute():
        raise ValidationError(f"releaseDescriptorPath must be an absolute path: {descriptor_path}")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ValidationError(
            f"release descriptor is not a readable file: {descriptor_path}"
        ) from exc
    try:
        descriptor = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise ValidationError(f"release descriptor is not valid JSON: {exc}") from exc
    if not isinstance(descriptor, dict):
        raise ValidationError("release descriptor must be a JSON object")
    return descriptor


def _validate_descriptor(descriptor: dict[str, Any], pipeline_id: str) -> None:
    version = descriptor.get("schemaVersion")
    if version != 1 or isinstance(version, bool):
        raise ValidationError(
            f"unsupported release descriptor schemaVersion: {version!r} (expected 1)"
        )
    if descriptor.get("pipelineId") != pipeline_id:
        raise ValidationError(
            f"release descriptor pipelineId {descriptor.get('pipelineId')!r} does not match "
            f"the requested pipelineId {pipeline_id!r}"
        )
    for name in ("contractVersion", "releaseVersion"):
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
                f"{where}.kind {artifact['kind']!r} is not supported "
                f"(expected one of {', '.join(sorted(ARTIFACT_KINDS))})"
            )
        _check_digest(artifact["digest"], f"{where}.digest")
        if "codeDigest" in artifact:  # ours only: the digest of the code the artifact carries
            code_digest = artifact["codeDigest"]
            if not isinstance(code_digest, str):
                raise ValidationError(f"{where}.codeDigest must be a string")
            _check_digest(code_digest, f"{where}.codeDigest")
        for name in ("stepIds", "capabilities"):
            values = artifact.get(name, [])
            if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
                raise ValidationError(f"{where}.{name} must be an array of strings")


def _check_digest(digest: str, label: str) -> None:
    if not digest.startswith("sha256:"):
        raise ValidationError(f"{label} must start with 'sha256:': {digest!r}")
    hex_part = digest.removeprefix("sha256:")
    if len(hex_part) != 64 or not set(hex_part) <= _HEX:
        raise ValidationError(f"{label} must be 'sha256:' + 64 lowercase hex: {digest!r}")


def _require_text(obj: Mapping[str, Any], name: str, label: str) -> None:
    value = obj.get(name)
    if not isinstance(value, str) or not value.strip():
        raise ValidationError(f"{label} is required (a non-blank string)")


def _inspect_local(
    i: int, artifact: dict[str, Any], base_dir: Path, descriptor: dict[str, Any]
) -> _LocalArtifact:
    """Check a local artifact's file, digest and embedded contract (blocking; run in a thread)."""
    where = f"artifacts[{i}]"
    uri: str = artifact["uri"]
    path = Path(unquote(urlparse(uri).path)) if uri.startswith("file:") else Path(uri)
    if not path.is_absolute():  # relative uris are relative to the descriptor, not the cwd
        path = base_dir / path
    if not path.is_file():
        raise ValidationError(f"{where}.uri is not a readable file: {uri}")
    try:
        actual = sha256_file(path)
    except OSError as exc:
        raise ValidationError(f"{where}.uri is not a readable file: {uri}") from exc
    if actual != artifact["digest"]:
        raise ValidationError(
            f"{where} digest mismatch: descriptor says {artifact['digest']}, file is {actual}"
        )
    raw = _contract_bytes(path)
    if raw is None:
        if artifact["kind"] == "jar":
            raise ValidationError(f"{where} (jar) does not contain {CONTRACT_ENTRY}")
        _check_code(where, artifact, path)
        return _LocalArtifact(str(path), None)
    try:
        contract = parse_contract(raw)
        contract_json = orjson.loads(raw)
    except (ValidationError, orjson.JSONDecodeError) as exc:
        raise ValidationError(f"{where} contract is invalid: {exc}") from exc
    for name, actual_value in (
        ("pipelineId", contract.pipeline_id),
        ("contractVersion", contract.contract_version),
    ):
        if actual_value != descriptor[name]:
            raise ValidationError(
                f"{where} contract {name} {actual_value!r} does not match the descriptor's "
                f"{descriptor[name]!r}"
            )
    _check_code(where, artifact, path)
    return _LocalArtifact(str(path), contract_json)


def _check_code(where: str, artifact: dict[str, Any], path: Path) -> None:
    """The artifact's code manifest must check out and match the ``codeDigest`` stated."""
    try:
        actual = artifact_code_digest(path)
    except ValidationError as exc:
        raise ValidationError(f"{where} code manifest is invalid: {exc.message}") from None
    stated = artifact.get("codeDigest")
    if stated is not None and stated != actual:
        raise ValidationError(
            f"{where}.codeDigest {stated} does not match the artifact's code manifest "
            f"({actual or 'none'})"
        )


def _contract_bytes(path: Path) -> bytes | None:
    """The embedded ``pipeline-contract.json``, or ``None`` if ``path`` is no ZIP or lacks one."""
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
            if CONTRACT_ENTRY in names:
                return archive.read(CONTRACT_ENTRY)
            # Some packagers put the contract elsewhere; any entry with the file name counts.
            for name in sorted(names):
                if name.rsplit("/", 1)[-1] == "pipeline-contract.json":
                    return archive.read(name)
    except (zipfile.BadZipFile, OSError):
        return None
    return None
