"""Release build (deterministic artifact + descriptor) and registration/activation rules."""

from __future__ import annotations

import hashlib
import io
import threading
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest

import tpf.engine.releases as releases
from demos.restaurant_approval import pipeline as restaurant
from tpf.authoring.build import CONTRACT_ENTRY, PIPELINE_REF_ENTRY
from tpf.authoring.code import CODE_MANIFEST_ENTRY, pipeline_code
from tpf.authoring.contract import parse_contract
from tpf.core.clock import FakeClock
from tpf.core.codec import canonical_digest
from tpf.core.errors import Conflict, NotFound, Unavailable, ValidationError
from tpf.core.records import ReleaseStatus
from tpf.engine.release_files import ImportPolicy
from tpf.engine.releases import ReleaseRegistrar, build_release
from tpf.stores.artifacts import LocalArtifactStore
from tpf.stores.memory import MemoryReleaseStore

PID = restaurant.pipeline_id
TENANT = "t1"
REF = "demos.restaurant_approval:pipeline"
DEFINED_AT = "demos.restaurant_approval.pipeline:pipeline"  # where the code defines it


@pytest.fixture
def built(tmp_path: Path) -> Path:
    return build_release(restaurant, tmp_path / "build", module_ref=REF)


@pytest.fixture
def registrar(tmp_path: Path) -> ReleaseRegistrar:
    return ReleaseRegistrar(
        MemoryReleaseStore(), LocalArtifactStore(str(tmp_path / "store")), FakeClock()
    )


def load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = orjson.loads(path.read_bytes())
    return data


def rewrite(path: Path, mutate: Callable[[dict[str, Any]], object]) -> str:
    data = load(path)
    mutate(data)
    path.write_bytes(orjson.dumps(data))
    return str(path)


def overwrite(path: str, data: bytes) -> None:
    Path(path).write_bytes(data)


def zip_with(path: Path, entries: dict[str, bytes]) -> str:
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()


# --------------------------------------------------------------------------- build


def test_build_pins_the_artifact_digest(built: Path) -> None:
    assert built.is_absolute() and built.name == "pipeline-release.json"
    descriptor = load(built)
    contract = restaurant.contract()
    assert descriptor["schemaVersion"] == 1
    assert descriptor["pipelineId"] == PID
    assert descriptor["contractVersion"] == contract.contract_version
    code = pipeline_code(restaurant)
    assert descriptor["releaseVersion"] == code.digest  # the code, not just the contract
    (artifact,) = descriptor["artifacts"]
    assert artifact["artifactId"] == "restaurantapproval-pipeline"
    assert artifact["kind"] == "jar"
    assert artifact["codeDigest"] == code.digest
    assert artifact["stepIds"] == [s.name for s in restaurant.steps]
    assert artifact["capabilities"] == ["local-transition-execution"]
    assert artifact["uri"] == "restaurantapproval-pipeline.tpfa"  # relative: no build path
    data = (built.parent / artifact["uri"]).read_bytes()
    assert artifact["digest"] == "sha256:" + hashlib.sha256(data).hexdigest()
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        sources = sorted(code.files)
        assert "demos/restaurant_approval/pipeline.py" in sources
        assert archive.namelist() == sorted(
            [CONTRACT_ENTRY, PIPELINE_REF_ENTRY, CODE_MANIFEST_ENTRY, *sources]
        )
        assert parse_contract(archive.read(CONTRACT_ENTRY)) == contract
        # The module that defines the pipeline, not the re-exporting package the build named:
        # the reference follows from the code, so the bytes do not depend on the invocation.
        assert archive.read(PIPELINE_REF_ENTRY).decode().strip() == DEFINED_AT
        for source in sources:
            assert archive.read(source) == code.files[source]
        assert orjson.loads(archive.read(CODE_MANIFEST_ENTRY)) == code.manifest()


def test_build_is_deterministic(tmp_path: Path) -> None:
    first = load(build_release(restaurant, tmp_path / "a", module_ref=REF))
    second = load(build_release(restaurant, tmp_path / "b", module_ref=REF))
    assert first["artifacts"][0]["digest"] == second["artifacts"][0]["digest"]
    # `make demo` builds with `tpf release build --pipeline REF`, `make demo-inprocess` with
    # build_release(pipeline, ...): the same code, so the same artifact and descriptor.
    assert load(build_release(restaurant, tmp_path / "c")) == first


def test_build_options(tmp_path: Path) -> None:
    descriptor = load(
        build_release(restaurant, tmp_path, release_version="v7", artifact_id="custom")
    )
    assert descriptor["releaseVersion"] == "v7"
    (artifact,) = descriptor["artifacts"]
    assert artifact["artifactId"] == "custom" and artifact["uri"] == "custom.tpfa"
    with zipfile.ZipFile(tmp_path / artifact["uri"]) as archive:
        assert archive.read(PIPELINE_REF_ENTRY).decode().strip() == DEFINED_AT


# --------------------------------------------------------------------------- register


async def test_register_and_idempotent_reregister(built: Path, registrar: ReleaseRegistrar) -> None:
    record = await registrar.register(TENANT, PID, str(built))
    descriptor = load(built)
    assert record.status is ReleaseStatus.REGISTERED
    assert record.release_version == descriptor["releaseVersion"]
    assert record.primary_artifact_id == "restaurantapproval-pipeline"
    assert record.primary_artifact_digest == descriptor["artifacts"][0]["digest"]
    assert record.primary_artifact_checksum == record.primary_artifact_digest
    assert record.primary_artifact_uri.startswith("file://")
    artifact_file = built.parent / descriptor["artifacts"][0]["uri"]
    assert record.primary_artifact_size_bytes == artifact_file.stat().st_size
    assert record.contract is not None and record.contract["pipelineId"] == PID
    assert record.descriptor == descriptor
    again = await registrar.register(TENANT, PID, str(built))
    assert again.primary_artifact_uri == record.primary_artifact_uri


async def test_same_version_with_different_metadata_conflicts(
    built: Path, registrar: ReleaseRegistrar
) -> None:
    await registrar.register(TENANT, PID, str(built))
    path = rewrite(built, lambda d: d["artifacts"][0].update(stepIds=["changed"]))
    with pytest.raises(Conflict):
        await registrar.register(TENANT, PID, path)


async def test_extras_are_preserved(built: Path, registrar: ReleaseRegistrar) -> None:
    def add_extras(d: dict[str, Any]) -> None:
        d["notes"] = {"owner": "ops"}
        d["artifacts"][0].update(scope="monolith", runtime="python")

    record = await registrar.register(TENANT, PID, rewrite(built, add_extras))
    assert record.descriptor["notes"] == {"owner": "ops"}
    assert record.descriptor["artifacts"][0]["scope"] == "monolith"


def _artifact(**changes: Any) -> Callable[[dict[str, Any]], None]:
    return lambda d: d["artifacts"][0].update(changes)


def _drop(name: str) -> Callable[[dict[str, Any]], None]:
    return lambda d: d["artifacts"][0].pop(name)


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d.update(schemaVersion=2), r"unsupported release descriptor schemaVersion \("),
        (lambda d: d.pop("schemaVersion"), r"schemaVersion \(expected 1\)"),
        (lambda d: d.update(pipelineId="other"), "pipelineId 'other' does not match"),
        (lambda d: d.update(contractVersion=" "), "contractVersion is required"),
        (lambda d: d.pop("releaseVersion"), "releaseVersion is required"),
        (lambda d: d.update(artifacts=[]), "at least one artifact"),
        (lambda d: d.update(artifacts="x"), "at least one artifact"),
        (lambda d: d.update(artifacts=[1]), r"artifacts\[0\] must be an object"),
        (_drop("artifactId"), r"artifacts\[0\]\.artifactId is required"),
        (_drop("kind"), r"artifacts\[0\]\.kind is required"),
        (_drop("uri"), r"artifacts\[0\]\.uri is required"),
        (_drop("digest"), r"artifacts\[0\]\.digest is required"),
        (_artifact(kind="zip"), r"artifacts\[0\]\.kind is not supported"),
        (_artifact(digest="md5:abc"), r"artifacts\[0\]\.digest must start with 'sha256:'"),
        (_artifact(digest="sha256:abc"), r"artifacts\[0\]\.digest must be 'sha256:' \+ 64"),
        (_artifact(digest="sha256:" + "0" * 64), r"artifacts\[0\] digest mismatch"),
        (_artifact(uri="/nonexistent/x.tpfa"), r"artifacts\[0\]\.uri is not a readable file"),
        (_artifact(stepIds="a"), r"artifacts\[0\]\.stepIds must be an array of strings"),
    ],
)
async def test_descriptor_validation_failures(
    built: Path,
    registrar: ReleaseRegistrar,
    mutate: Callable[[dict[str, Any]], object],
    message: str,
) -> None:
    with pytest.raises(ValidationError, match=message):
        await registrar.register(TENANT, PID, rewrite(built, mutate))


async def test_path_failures(tmp_path: Path, registrar: ReleaseRegistrar) -> None:
    with pytest.raises(ValidationError, match="releaseDescriptorPath is required"):
        await registrar.register(TENANT, PID, " ")
    with pytest.raises(ValidationError, match="must be an absolute path"):
        await registrar.register(TENANT, PID, "relative/pipeline-release.json")
    with pytest.raises(ValidationError, match="not a readable file"):
        await registrar.register(TENANT, PID, str(tmp_path / "missing.json"))
    bad = tmp_path / "bad.json"
    bad.write_text("{nope")
    with pytest.raises(ValidationError, match="not valid JSON"):
        await registrar.register(TENANT, PID, str(bad))
    bad.write_text("[1]")
    with pytest.raises(ValidationError, match="must be a JSON object"):
        await registrar.register(TENANT, PID, str(bad))


async def test_jar_without_contract_is_rejected(
    built: Path, tmp_path: Path, registrar: ReleaseRegistrar
) -> None:
    jar = tmp_path / "empty.jar"
    digest = zip_with(jar, {"META-INF/MANIFEST.MF": b"Manifest-Version: 1.0\n"})
    path = rewrite(built, _artifact(uri=str(jar), digest=digest))
    with pytest.raises(ValidationError, match=r"artifacts\[0\] \(jar\) does not contain"):
        await registrar.register(TENANT, PID, path)
    plain = tmp_path / "not-a-zip.jar"
    plain.write_bytes(b"hello")
    digest = "sha256:" + hashlib.sha256(b"hello").hexdigest()
    path = rewrite(built, _artifact(uri=str(plain), digest=digest))
    with pytest.raises(ValidationError, match="does not contain"):
        await registrar.register(TENANT, PID, path)


@pytest.mark.parametrize(
    ("field", "value"), [("pipelineId", "org.other"), ("contractVersion", "sha256:other")]
)
async def test_contract_mismatch_is_rejected(
    built: Path, tmp_path: Path, registrar: ReleaseRegistrar, field: str, value: str
) -> None:
    contract = load(built)  # only to find the real contract bytes
    with zipfile.ZipFile(built.parent / contract["artifacts"][0]["uri"]) as archive:
        data = orjson.loads(archive.read(CONTRACT_ENTRY))
    data[field] = value
    jar = tmp_path / "other.jar"
    digest = zip_with(jar, {CONTRACT_ENTRY: orjson.dumps(data)})
    path = rewrite(built, _artifact(uri=str(jar), digest=digest))
    with pytest.raises(ValidationError, match=rf"contract {field} '{value}' does not match"):
        await registrar.register(TENANT, PID, path)


async def test_invalid_embedded_contract_is_rejected(
    built: Path, tmp_path: Path, registrar: ReleaseRegistrar
) -> None:
    jar = tmp_path / "broken.jar"
    digest = zip_with(jar, {CONTRACT_ENTRY: b"{broken"})
    with pytest.raises(ValidationError, match=r"artifacts\[0\] contract is invalid"):
        await registrar.register(
            TENANT, PID, rewrite(built, _artifact(uri=str(jar), digest=digest))
        )


async def test_local_file_without_contract_and_remote_kinds(
    built: Path, tmp_path: Path, registrar: ReleaseRegistrar
) -> None:
    blob = tmp_path / "model.bin"
    blob.write_bytes(b"weights")
    blob_digest = "sha256:" + hashlib.sha256(b"weights").hexdigest()
    remote = {
        "artifactId": "img",
        "kind": "container-image",
        "uri": "registry.example/x:1",
        "digest": "sha256:" + "a" * 64,
    }

    def add(d: dict[str, Any]) -> None:
        d["artifacts"] = [
            remote,
            {"artifactId": "blob", "kind": "local-file", "uri": "model.bin", "digest": blob_digest},
            *d["artifacts"],
            dict(remote, artifactId="endpoint", kind="external-endpoint", uri="https://x"),
        ]

    descriptor = tmp_path / "build" / "pipeline-release.json"
    (tmp_path / "build" / "model.bin").write_bytes(b"weights")  # relative to the descriptor
    record = await registrar.register(TENANT, PID, rewrite(descriptor, add))
    # The jar is the last artifact carrying a contract, so it is primary.
    assert record.primary_artifact_id == "restaurantapproval-pipeline"
    assert record.contract is not None
    assert [a["artifactId"] for a in record.descriptor["artifacts"]] == [
        "img",
        "blob",
        "restaurantapproval-pipeline",
        "endpoint",
    ]


async def test_remote_only_release_uses_first_artifact(
    built: Path, registrar: ReleaseRegistrar
) -> None:
    remote = {
        "artifactId": "img",
        "kind": "lambda-image",
        "uri": "123.dkr.ecr/x@sha256:1",
        "digest": "sha256:" + "b" * 64,
    }
    record = await registrar.register(
        TENANT, PID, rewrite(built, lambda d: d.update(artifacts=[remote]))
    )
    assert record.primary_artifact_id == "img"
    assert record.primary_artifact_uri == remote["uri"]
    assert record.primary_artifact_size_bytes == 0 and record.contract is None
    active = await registrar.activate(TENANT, PID, record.release_version)
    assert active.status is ReleaseStatus.ACTIVE  # remote artifacts are not verified


# --------------------------------------------------------------------------- activate


async def test_activate(built: Path, registrar: ReleaseRegistrar) -> None:
    record = await registrar.register(TENANT, PID, str(built))
    active = await registrar.activate(TENANT, PID, record.release_version)
    assert active.status is ReleaseStatus.ACTIVE and active.activated_at_epoch_ms > 0


async def test_activate_unknown_is_not_found(registrar: ReleaseRegistrar) -> None:
    with pytest.raises(NotFound):
        await registrar.activate(TENANT, PID, "sha256:nope")


async def test_activate_rejects_a_tampered_stored_artifact(
    built: Path, registrar: ReleaseRegistrar
) -> None:
    record = await registrar.register(TENANT, PID, str(built))
    overwrite(record.primary_artifact_uri.removeprefix("file://"), b"tampered")
    with pytest.raises(Conflict):
        await registrar.activate(TENANT, PID, record.release_version)


# --------------------------------------------------------------------------- hostile archives


def _repack(artifact: Path, entries: dict[str, bytes]) -> str:
    """Rewrite ``artifact`` (deflated) with ``entries``; its new digest."""
    artifact.unlink()
    with zipfile.ZipFile(artifact, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return "sha256:" + hashlib.sha256(artifact.read_bytes()).hexdigest()


def _entries(artifact: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(artifact) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def _bounded_registrar(tmp_path: Path, **limits: Any) -> ReleaseRegistrar:
    return ReleaseRegistrar(
        MemoryReleaseStore(),
        LocalArtifactStore(str(tmp_path / "store")),
        FakeClock(),
        ImportPolicy(**limits),
    )


async def test_an_embedded_contract_that_unpacks_too_far_is_refused(
    built: Path, tmp_path: Path
) -> None:
    """A few KB of archive can unpack to gigabytes; it was read whole into memory."""
    artifact = built.parent / load(built)["artifacts"][0]["uri"]
    entries = _entries(artifact)
    entries[CONTRACT_ENTRY] = entries[CONTRACT_ENTRY] + b" " * (2 << 20)  # still valid JSON
    digest = _repack(artifact, entries)
    assert artifact.stat().st_size < 64 * 1024
    registrar = _bounded_registrar(tmp_path, max_json_bytes=1 << 20)
    path = rewrite(built, _artifact(digest=digest))
    with pytest.raises(
        ValidationError,
        match=rf"artifacts\[0\] contract: {CONTRACT_ENTRY} "
        r"unpacks to more than 1048576 bytes \(tpf.http.max-body-bytes\)",
    ):
        await registrar.register(TENANT, PID, path)


async def test_code_manifest_files_are_bounded_when_unpacked(built: Path, tmp_path: Path) -> None:
    artifact = built.parent / load(built)["artifacts"][0]["uri"]
    entries = _entries(artifact)
    entries["demos/padding.py"] = b"#" * (4 << 20)
    manifest = orjson.loads(entries[CODE_MANIFEST_ENTRY])
    manifest["files"]["demos/padding.py"] = (
        "sha256:" + hashlib.sha256(entries["demos/padding.py"]).hexdigest()
    )
    manifest.pop("codeDigest")
    manifest["codeDigest"] = canonical_digest(manifest)
    entries[CODE_MANIFEST_ENTRY] = orjson.dumps(manifest)
    digest = _repack(artifact, entries)
    path = rewrite(built, _artifact(digest=digest, codeDigest=manifest["codeDigest"]))
    registrar = _bounded_registrar(tmp_path, max_artifact_bytes=1 << 20)
    with pytest.raises(ValidationError, match=r"the files it lists unpack to more than 1048576"):
        await registrar.register(TENANT, PID, path)
    # Within the bound the same archive registers: the manifest is consistent.
    record = await _bounded_registrar(tmp_path / "big").register(TENANT, PID, path)
    assert record.primary_artifact_digest == digest


async def test_a_corrupt_archive_entry_is_a_400(
    built: Path, tmp_path: Path, registrar: ReleaseRegistrar
) -> None:
    artifact = built.parent / load(built)["artifacts"][0]["uri"]
    entries = _entries(artifact)
    digest = _repack(artifact, {CONTRACT_ENTRY: entries[CONTRACT_ENTRY]})
    data = bytearray(artifact.read_bytes())
    with zipfile.ZipFile(artifact) as archive:
        info = archive.getinfo(CONTRACT_ENTRY)
    start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
    for i in range(start, start + info.compress_size):
        data[i] ^= 0x5A  # the deflate stream, scrambled
    artifact.write_bytes(bytes(data))
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    with pytest.raises(
        ValidationError,
        match=rf"artifacts\[0\] contract: {CONTRACT_ENTRY} "
        r"cannot be unpacked",
    ):
        await registrar.register(TENANT, PID, rewrite(built, _artifact(digest=digest)))


async def test_a_slow_read_times_out_and_frees_the_registrar(
    built: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A read that never ends (a hung file system) answers 503 after the deadline instead of
    holding the pipeline's registry; the next registration goes through."""
    release = threading.Event()
    real = releases._read_descriptor

    def hanging(descriptor_path: str, policy: ImportPolicy) -> dict[str, Any]:
        release.wait(30)
        return real(descriptor_path, policy)

    registrar = _bounded_registrar(tmp_path, timeout_s=0.2)
    monkeypatch.setattr(releases, "_read_descriptor", hanging)
    try:
        with pytest.raises(Unavailable, match=r"took longer than 0.2s \(tpf.ask-timeout\)"):
            await registrar.register(TENANT, PID, str(built))
    finally:
        release.set()
    monkeypatch.setattr(releases, "_read_descriptor", real)
    assert (await registrar.register(TENANT, PID, str(built))).pipeline_id == PID
