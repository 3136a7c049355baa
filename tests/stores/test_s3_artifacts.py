"""S3ArtifactStore against moto over HTTP: content addressing, digest checks, idempotent
uploads, multipart streaming, the verify cache and the factory wiring."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import pytest

from tests.aws_calls import CallLog
from tpf.aws.bootstrap import bootstrap_aws
from tpf.aws.clients import AwsClients
from tpf.config.settings import Settings
from tpf.core.errors import ConfigError, Conflict, NotFound, ValidationError
from tpf.stores.artifacts.s3 import S3ArtifactStore
from tpf.stores.factory import open_stores

CONTENT = b"pipeline jar bytes" * 1000
BUCKET = "tpf-release-artifacts"


def digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@pytest.fixture
def s3_settings(aws_settings: Settings) -> Settings:
    """S3 artifacts (path-style, moto); everything else embedded."""
    return replace(
        aws_settings,
        state=replace(aws_settings.state, provider="memory"),
        work_queue=replace(aws_settings.work_queue, provider="event"),
        dlq=replace(aws_settings.dlq, provider="log"),
        releases=replace(aws_settings.releases, registry_provider="memory"),
        workers=replace(aws_settings.workers, lifecycle_provider="memory"),
    )


@pytest.fixture
async def aws(s3_settings: Settings) -> AsyncIterator[AwsClients]:
    clients = AwsClients(s3_settings)
    try:
        assert await bootstrap_aws(s3_settings, clients) == [f"created bucket {BUCKET}"]
        yield clients
    finally:
        await clients.close()


@pytest.fixture
async def calls(aws: AwsClients) -> CallLog:
    return CallLog().attach(await aws.client("s3"))


@pytest.fixture
def source(tmp_path: Path) -> Path:
    path = tmp_path / "src" / "pipeline.jar"
    path.parent.mkdir()
    path.write_bytes(CONTENT)
    return path


async def keys_in_bucket(aws: AwsClients) -> list[str]:
    s3 = await aws.client("s3")
    listed = await s3.list_objects_v2(Bucket=BUCKET)
    return [o["Key"] for o in listed.get("Contents", [])]


async def test_put_file_is_content_addressed_with_sha256_metadata(
    s3_settings: Settings, aws: AwsClients, calls: CallLog, source: Path
) -> None:
    store = S3ArtifactStore(aws, s3_settings)
    digest = digest_of(CONTENT)
    hex_digest = digest.removeprefix("sha256:")
    uri, size = await store.put_file(str(source), digest)
    assert (uri, size) == (f"s3://{BUCKET}/tpf/releases/sha256/{hex_digest}.jar", len(CONTENT))
    head = await (await aws.client("s3")).head_object(
        Bucket=BUCKET, Key=f"tpf/releases/sha256/{hex_digest}.jar"
    )
    assert head["Metadata"] == {"sha256": hex_digest}
    assert await store.open_bytes(uri) == CONTENT
    assert calls.calls["PutObject"] == 1
    # Idempotent: a second registration is one HEAD and a local hash, no upload.
    assert await store.put_file(str(source), digest) == (uri, size)
    assert calls.calls["PutObject"] == 1
    assert await keys_in_bucket(aws) == [f"tpf/releases/sha256/{hex_digest}.jar"]


async def test_a_digest_mismatch_is_rejected_and_nothing_is_stored(
    s3_settings: Settings, aws: AwsClients, source: Path
) -> None:
    store = S3ArtifactStore(aws, s3_settings)
    with pytest.raises(ValidationError, match="digest mismatch"):
        await store.put_file(str(source), digest_of(b"something else"))
    with pytest.raises(ValidationError, match="sha256:<hex>"):
        await store.put_file(str(source), "md5:abc")
    with pytest.raises(ValidationError, match="not readable"):
        await store.put_file(str(source.parent / "missing.jar"), digest_of(CONTENT))
    assert await keys_in_bucket(aws) == []


async def test_large_files_stream_as_a_multipart_upload(
    s3_settings: Settings, aws: AwsClients, calls: CallLog, tmp_path: Path
) -> None:
    part = 5 * 1024 * 1024  # S3's minimum part size
    data = bytes(range(256)) * (11 * 1024 * 1024 // 256)  # 11 MiB: three parts
    path = tmp_path / "big.bin"
    path.write_bytes(data)
    store = S3ArtifactStore(aws, s3_settings, part_bytes=part)
    with pytest.raises(ValidationError, match="digest mismatch"):
        await store.put_file(str(path), digest_of(b"not it"))
    s3 = await aws.client("s3")
    assert await keys_in_bucket(aws) == []
    assert (await s3.list_multipart_uploads(Bucket=BUCKET)).get("Uploads", []) == []
    uri, size = await store.put_file(str(path), digest_of(data))
    assert size == len(data) and calls.calls["UploadPart"] == 6  # three per attempt
    assert calls.calls["AbortMultipartUpload"] == 1
    assert await store.open_bytes(uri) == data
    await S3ArtifactStore(aws, s3_settings).verify(uri, digest_of(data), size)


async def test_verify_is_one_head_then_cached(
    s3_settings: Settings, aws: AwsClients, calls: CallLog, source: Path
) -> None:
    digest = digest_of(CONTENT)
    uri, size = await S3ArtifactStore(aws, s3_settings).put_file(str(source), digest)
    store = S3ArtifactStore(aws, s3_settings)  # a fresh process: nothing cached
    before = aws.requests["s3"]
    await store.verify(uri, digest, size)
    assert aws.requests["s3"] == before + 1 and calls.calls["GetObject"] == 0
    await store.verify(uri, digest, size)
    assert aws.requests["s3"] == before + 1  # the second verify makes no request


async def test_verify_rejects_missing_or_different_objects(
    s3_settings: Settings, aws: AwsClients, source: Path
) -> None:
    store = S3ArtifactStore(aws, s3_settings)
    digest = digest_of(CONTENT)
    uri, size = await store.put_file(str(source), digest)
    fresh = S3ArtifactStore(aws, s3_settings)
    with pytest.raises(Conflict, match="has 18000 bytes, expected 1"):
        await fresh.verify(uri, digest, 1)
    with pytest.raises(Conflict, match="missing"):
        await fresh.verify(uri.replace(".jar", ".zip"), digest, size)
    with pytest.raises(Conflict, match="sha256:<hex>"):
        await fresh.verify(uri, "sha1:x", size)
    with pytest.raises(Conflict, match="not an S3 artifact URI"):
        await fresh.verify("file:///tmp/x.jar", digest, size)
    # An object that this store did not prove (no sha256 metadata) does not verify.
    s3 = await aws.client("s3")
    await s3.put_object(Bucket=BUCKET, Key="tpf/releases/sha256/other.jar", Body=CONTENT)
    with pytest.raises(Conflict, match="checksum mismatch"):
        await fresh.verify(f"s3://{BUCKET}/tpf/releases/sha256/other.jar", digest, size)


async def test_open_bytes_of_a_missing_object_is_not_found(
    s3_settings: Settings, aws: AwsClients
) -> None:
    with pytest.raises(NotFound):
        await S3ArtifactStore(aws, s3_settings).open_bytes(f"s3://{BUCKET}/tpf/nothing.jar")


async def test_factory_opens_the_s3_store(s3_settings: Settings, aws: AwsClients) -> None:
    stores = await open_stores(
        replace(s3_settings, s3=replace(s3_settings.s3, prefix="/team/releases/")), aws
    )
    try:
        assert isinstance(stores.artifacts, S3ArtifactStore)
        assert stores.artifacts.key_for("ab", ".jar") == "team/releases/sha256/ab.jar"
    finally:
        await stores.close()
    with pytest.raises(ConfigError, match=r"releases\.storage\.s3\.bucket"):
        await open_stores(replace(s3_settings, s3=replace(s3_settings.s3, bucket=None)), aws)
