"""LocalArtifactStore: content addressing, digest checks, idempotency and cached verify."""

from __future__ import annotations

import asyncio
import hashlib
import os
from pathlib import Path

import pytest

from tpf.core.errors import Conflict, NotFound, ValidationError
from tpf.stores.artifacts import LocalArtifactStore

CONTENT = b"pipeline jar bytes" * 1000


def digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@pytest.fixture
def source(tmp_path: Path) -> Path:
    path = tmp_path / "src" / "pipeline.jar"
    path.parent.mkdir()
    path.write_bytes(CONTENT)
    return path


async def test_put_file_is_content_addressed(tmp_path: Path, source: Path) -> None:
    store = LocalArtifactStore(str(tmp_path / "root"))
    digest = digest_of(CONTENT)
    uri, size = await store.put_file(str(source), digest)
    assert size == len(CONTENT)
    stored = tmp_path / "root" / "artifacts" / f"{digest.removeprefix('sha256:')}.jar"
    assert uri == stored.resolve().as_uri()
    assert stored.read_bytes() == CONTENT
    assert await store.open_bytes(uri) == CONTENT
    # Idempotent, and nothing but the artifact is left behind.
    assert await store.put_file(str(source), digest) == (uri, size)
    assert os.listdir(stored.parent) == [stored.name]
    await store.verify(uri, digest, size)


async def test_put_file_digest_mismatch(tmp_path: Path, source: Path) -> None:
    store = LocalArtifactStore(str(tmp_path / "root"))
    wrong = digest_of(b"something else")
    with pytest.raises(ValidationError):
        await store.put_file(str(source), wrong)
    assert os.listdir(tmp_path / "root" / "artifacts") == []
    with pytest.raises(ValidationError):
        await store.put_file(str(source), "md5:abc")
    with pytest.raises(ValidationError):
        await store.put_file(str(tmp_path / "missing.jar"), digest_of(CONTENT))


async def test_put_file_checks_source_even_if_stored(tmp_path: Path, source: Path) -> None:
    store = LocalArtifactStore(str(tmp_path / "root"))
    digest = digest_of(CONTENT)
    await store.put_file(str(source), digest)
    await asyncio.to_thread(source.write_bytes, b"tampered")
    with pytest.raises(ValidationError):
        await store.put_file(str(source), digest)


async def test_verify_failures(tmp_path: Path, source: Path) -> None:
    store = LocalArtifactStore(str(tmp_path / "root"))
    digest = digest_of(CONTENT)
    uri, size = await store.put_file(str(source), digest)
    with pytest.raises(Conflict):
        await store.verify(uri, digest, size + 1)
    with pytest.raises(Conflict):
        await store.verify(uri, digest_of(b"x"), size)
    with pytest.raises(Conflict):
        await store.verify(uri + ".missing", digest, size)
    with pytest.raises(Conflict):
        await store.verify(uri, "nonsense", size)


async def test_verify_is_cached_until_file_changes(tmp_path: Path, source: Path) -> None:
    store = LocalArtifactStore(str(tmp_path / "root"))
    digest = digest_of(CONTENT)
    uri, size = await store.put_file(str(source), digest)
    await store.verify(uri, digest, size)
    stored = Path(store.directory) / Path(uri).name
    # Same size, different content, new mtime: the cache must not vouch for it.
    corrupted = bytes(len(CONTENT))
    stored.write_bytes(corrupted)
    stat = stored.stat()
    os.utime(stored, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    with pytest.raises(Conflict):
        await store.verify(uri, digest, size)


async def test_open_missing_is_not_found(tmp_path: Path) -> None:
    store = LocalArtifactStore(str(tmp_path))
    with pytest.raises(NotFound):
        await store.open_bytes((tmp_path / "nope").as_uri())


async def test_repeated_verify_does_not_rehash(
    tmp_path: Path, source: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tpf.stores.artifacts.local as artifacts

    store = LocalArtifactStore(str(tmp_path / "root"))
    digest = digest_of(CONTENT)
    uri, size = await store.put_file(str(source), digest)
    calls = 0
    real = artifacts._sha256_of

    def counting(path: Path) -> tuple[str, int]:
        nonlocal calls
        calls += 1
        return real(path)

    monkeypatch.setattr(artifacts, "_sha256_of", counting)
    for _ in range(5):
        await store.verify(uri, digest, size)
    assert calls == 1
