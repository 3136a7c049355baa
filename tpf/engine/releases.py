"""Release artifacts and their registration (spec §5.2-§5.4).

:func:`build_release` (:mod:`tpf.authoring.build`, re-exported here) is the build side: it packs
the pipeline's contract and source code into a deterministic ZIP artifact and writes
``pipeline-release.json`` pinning that digest. :class:`ReleaseRegistrar` is the coordinator
side: it validates a descriptor on the coordinator's filesystem, copies local artifacts into the
artifact store, and records the immutable release; activation re-verifies the stored artifact
first. How it reads those server files (regular files only, capped, confined to the import
roots, off the shared thread pool, under a deadline) is :mod:`tpf.engine.release_files`.

Error messages never quote what a file holds until it has proved to be what the request says:
a descriptor's values are named only once it has the shape of a release descriptor (any JSON
file on the server could otherwise be read through the error), and an artifact that fails its
digest is "digest mismatch" without its actual digest (which would let a caller learn the hash
of any file, and then register it).
"""

from __future__ import annotations

import shutil
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import unquote, urlparse

import anyio
import anyio.to_thread
import msgspec
import orjson

from tpf.authoring.build import CONTRACT_ENTRY
from tpf.authoring.build import (
    build_release as build_release,  # public: tpf.releases.build_release
)
from tpf.authoring.code import (
    ZIP_ERRORS,
    artifact_code_digest,
    zip_entry,
)
from tpf.authoring.contract import parse_contract
from tpf.authoring.descriptor import LOCAL_KINDS, validate_descriptor
from tpf.core.errors import NotFound, Unavailable, ValidationError
from tpf.core.json_depth import depth
from tpf.core.records import ReleaseRecord, ReleaseStatus
from tpf.engine.release_files import (
    READER_THREADS,
    ImportPolicy,
    checked_path,
    confine,
    copy_capped,
    open_regular,
    read_capped,
)
from tpf.transports.workers.step_threads import StepThreads

if TYPE_CHECKING:
    from tpf.core.clock import Clock
    from tpf.stores.base import ArtifactStore, ReleaseStore

_DESCRIPTOR_FIELD = "releaseDescriptorPath"
_BODY_LIMIT = "tpf.http.max-body-bytes"
_UPLOAD_LIMIT = "tpf.http.max-upload-bytes"
T = TypeVar("T")


# --------------------------------------------------------------------------- registration


class _LocalArtifact(msgspec.Struct, frozen=True):
    """What validating one local artifact file found."""

    path: str  # the private staging copy that was checked: what goes into the artifact store
    size: int
    contract: dict[str, Any] | None


class ReleaseRegistrar:
    """Validates release descriptors, stores their artifacts, registers and activates releases."""

    def __init__(
        self,
        releases: ReleaseStore,
        artifacts: ArtifactStore,
        clock: Clock,
        policy: ImportPolicy | None = None,
    ) -> None:
        self._releases = releases
        self._artifacts = artifacts
        self._clock = clock
        self.policy = policy or ImportPolicy()
        # Server-file reads get their own few threads: a slow one must not take the loop's
        # default executor, which the artifact store and every other request share.
        self._readers = StepThreads(READER_THREADS)

    async def register(
        self, tenant_id: str, pipeline_id: str, descriptor_path: str
    ) -> ReleaseRecord:
        """Validate the descriptor at ``descriptor_path`` and register its release (spec §5.3).

        Re-registering identical metadata returns the stored record; a different release under
        the same ``releaseVersion`` raises the store's :class:`~tpf.errors.Conflict`.
        """
        if not descriptor_path or not descriptor_path.strip():
            raise ValidationError(f"{_DESCRIPTOR_FIELD} is required")
        checked_path(descriptor_path, _DESCRIPTOR_FIELD)
        staging = await self._blocking(_new_staging, self.policy.staging_dir)
        try:
            descriptor, local = await self._read_files(descriptor_path, pipeline_id, staging)
            primary: tuple[dict[str, Any], str, int, dict[str, Any] | None] | None = None
            first: tuple[dict[str, Any], str, int, dict[str, Any] | None] | None = None
            for i, artifact in enumerate(descriptor["artifacts"]):
                uri, size, contract = artifact["uri"], 0, None
                if i in local:
                    uri, size = await self._artifacts.put_file(local[i].path, artifact["digest"])
                    contract = local[i].contract
                entry = (artifact, uri, size, contract)
                first = first or entry
                if contract is not None:
                    primary = entry  # the last artifact carrying a contract wins
        finally:
            with anyio.CancelScope(shield=True):  # a stopping coordinator still cleans up
                await self._blocking(shutil.rmtree, staging, True)
        chosen = primary or first
        assert chosen is not None  # validate_descriptor guarantees at least one artifact
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

    async def _read_files(
        self, descriptor_path: str, pipeline_id: str, staging: Path
    ) -> tuple[dict[str, Any], dict[int, _LocalArtifact]]:
        """The validated descriptor and, by artifact index, its checked local artifacts.

        All of it under one deadline (``tpf.ask-timeout``, what the caller waits anyway): the
        registry actor serialises a pipeline's registrations, so a read that never ended would
        wedge that pipeline's registry for good.
        """
        policy = self.policy
        try:
            with anyio.fail_after(policy.timeout_s):
                descriptor = await self._blocking(_read_descriptor, descriptor_path, policy)
                validate_descriptor(descriptor, pipeline_id)
                base_dir = Path(descriptor_path).parent
                budget = policy.max_artifact_bytes
                local: dict[int, _LocalArtifact] = {}
                for i, artifact in enumerate(descriptor["artifacts"]):
                    if artifact["kind"] in LOCAL_KINDS:
                        local[i] = await self._blocking(
                            _inspect_local,
                            i,
                            artifact,
                            base_dir,
                            descriptor,
                            staging,
                            budget,
                            policy,
                        )
                        budget -= local[i].size
        except TimeoutError:
            raise Unavailable(
                f"reading the release files took longer than {policy.timeout_s:g}s "
                "(tpf.ask-timeout); is the file system responding?"
            ) from None
        return descriptor, local

    async def _blocking(self, fn: Callable[..., T], *args: Any) -> T:
        # Abandoned on timeout: the thread finishes on its own (a regular file's read always
        # ends), the registration answers now.
        return await anyio.to_thread.run_sync(
            fn, *args, limiter=self._readers.limiter(), abandon_on_cancel=True
        )

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


def _new_staging(staging_dir: Path | None) -> Path:
    """A private directory for the checked copies of one registration's artifacts."""
    try:
        if staging_dir is not None:
            staging_dir.mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(prefix=".import-", dir=staging_dir))
    except OSError as exc:  # the coordinator's own directory: not the caller's fault
        raise Unavailable(
            f"cannot stage release files in {staging_dir or tempfile.gettempdir()}: "
            f"{exc.strerror or exc}"
        ) from None


def _read_descriptor(descriptor_path: str, policy: ImportPolicy) -> dict[str, Any]:
    """The descriptor file's JSON object (blocking). Messages quote none of its content."""
    field = _DESCRIPTOR_FIELD
    path = confine(Path(descriptor_path), policy, field)
    limit = policy.max_json_bytes
    data = read_capped(
        open_regular(path, field, descriptor_path),
        limit,
        f"{field}: the release descriptor is larger than {limit} bytes ({_BODY_LIMIT})",
    )
    if depth(data) > policy.max_json_depth:
        raise ValidationError(
            f"release descriptor: JSON nested deeper than {policy.max_json_depth} levels "
            "(tpf.http.max-json-depth)"
        )
    try:
        descriptor = orjson.loads(data)
    except orjson.JSONDecodeError as exc:  # orjson says where, never what
        raise ValidationError(f"release descriptor is not valid JSON: {exc}") from None
    if not isinstance(descriptor, dict):
        raise ValidationError("release descriptor must be a JSON object")
    return descriptor


def _inspect_local(
    i: int,
    artifact: dict[str, Any],
    base_dir: Path,
    descriptor: dict[str, Any],
    staging: Path,
    budget: int,
    policy: ImportPolicy,
) -> _LocalArtifact:
    """Copy a local artifact into ``staging`` and check its digest, embedded contract and code
    manifest there (blocking; run in a thread)."""
    where = f"artifacts[{i}]"
    field = f"{where}.uri"
    uri: str = checked_path(artifact["uri"], field)
    text = checked_path(unquote(urlparse(uri).path), field) if uri.startswith("file:") else uri
    path = Path(text)
    if not path.is_absolute():  # relative uris are relative to the descriptor, not the cwd
        path = base_dir / path
    fd = open_regular(confine(path, policy, field), field, uri)
    limit = policy.max_artifact_bytes
    too_large = (
        f"{field}: the descriptor's artifacts are larger than {limit} bytes in all "
        f"({_UPLOAD_LIMIT})"
    )
    # Named with the original suffix: the artifact store keeps it (<hex><ext>).
    staged = staging / f"{i}{path.suffix}"
    actual, size = copy_capped(fd, staged, budget, too_large)
    if actual != artifact["digest"]:
        # Not the file's actual digest: that would tell anyone the hash of any server file.
        raise ValidationError(
            f"{where} digest mismatch: the file at {uri} does not have the descriptor's digest"
        )
    raw = _contract_bytes(where, staged, policy.max_json_bytes)
    if raw is None:
        if artifact["kind"] == "jar":
            raise ValidationError(f"{where} (jar) does not contain {CONTRACT_ENTRY}")
        _check_code(where, artifact, staged, policy)
        return _LocalArtifact(str(staged), size, None)
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
    _check_code(where, artifact, staged, policy)
    return _LocalArtifact(str(staged), size, contract_json)


def _check_code(where: str, artifact: dict[str, Any], path: Path, policy: ImportPolicy) -> None:
    """The artifact's code manifest must check out and match the ``codeDigest`` stated."""
    try:
        actual = artifact_code_digest(
            path,
            max_entry_bytes=policy.max_json_bytes,
            max_total_bytes=policy.max_artifact_bytes,
        )
    except ValidationError as exc:
        raise ValidationError(f"{where} code manifest is invalid: {exc.message}") from None
    stated = artifact.get("codeDigest")
    if stated is not None and stated != actual:
        raise ValidationError(
            f"{where}.codeDigest {stated} does not match the artifact's code manifest "
            f"({actual or 'none'})"
        )


def _contract_bytes(where: str, path: Path, limit: int) -> bytes | None:
    """The embedded ``pipeline-contract.json``, or ``None`` if ``path`` is no ZIP or lacks one.

    An entry over ``limit`` bytes unpacked, or one that cannot be unpacked, is a 400: a small
    archive can expand to gigabytes.
    """
    try:
        archive = zipfile.ZipFile(path)
    except ZIP_ERRORS:
        return None
    with archive:
        names = archive.namelist()
        if CONTRACT_ENTRY in names:
            return zip_entry(archive, CONTRACT_ENTRY, limit, f"{where} contract")
        # Some packagers put the contract elsewhere; any entry with the file name counts.
        for name in sorted(names):
            if name.rsplit("/", 1)[-1] == "pipeline-contract.json":
                return zip_entry(archive, name, limit, f"{where} contract")
    return None
