"""The ``local`` artifact store: content-addressed files under ``<root>/artifacts/``.

An artifact lives at ``<root>/artifacts/<sha256 hex><ext>`` (``ext`` is the source file's
suffix) and is addressed by its ``file://`` URI. Files are copied to a temp file while being
hashed and only renamed into place once the digest matched, so a half-copied or wrong artifact
is never visible. All file I/O runs off the event loop.

``verify`` runs on every activation and submit-time check; re-hashing a large JAR each time is
what made the original slow, so a successful verification is remembered per
``(uri, digest, size)`` together with the file's stat signature: the hash is recomputed only if
the file was replaced or touched since.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import re
import uuid
from pathlib import Path
from urllib.parse import unquote, urlparse

from tpf.core.errors import Conflict, NotFound, ValidationError

_DIGEST = re.compile(r"sha256:([0-9a-fA-F]{64})")
_CHUNK = 1024 * 1024


def _hex_of(digest: str) -> str | None:
    match = _DIGEST.fullmatch(digest)
    return match.group(1).lower() if match else None


def _path_of(uri: str) -> Path:
    if uri.startswith("file:"):
        return Path(unquote(urlparse(uri).path))
    return Path(uri)


def _sha256_of(path: Path) -> tuple[str, int]:
    h = hashlib.sha256()
    size = 0
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
            size += len(chunk)
    return h.hexdigest(), size


def _stat_signature(path: Path) -> tuple[int, int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_ino, st.st_mtime_ns, st.st_size)


class LocalArtifactStore:
    """Content-addressed artifacts on the local filesystem."""

    def __init__(self, root: str) -> None:
        self.directory = Path(root).resolve() / "artifacts"
        # (uri, digest, size) -> stat signature of the file when its hash last matched.
        self._verified: dict[tuple[str, str, int], tuple[int, int, int]] = {}

    async def put_file(self, path: str, digest: str) -> tuple[str, int]:
        return await asyncio.to_thread(self._put_file, Path(path), digest)

    def _put_file(self, source: Path, digest: str) -> tuple[str, int]:
        expected = _hex_of(digest)
        if expected is None:
            raise ValidationError(f"artifact digest must be sha256:<hex>, got {digest!r}")
        target = self.directory / f"{expected}{source.suffix}"
        uri = target.as_uri()
        try:
            if target.exists():
                # Already stored: still prove the caller's file is what it claims to be.
                actual, size = _sha256_of(source)
                if actual == expected and target.stat().st_size == size:
                    return uri, size
            else:
                actual, size = self._copy_hashing(source, target, expected)
        except OSError as exc:
            raise ValidationError(f"artifact file {source} is not readable: {exc}") from exc
        if actual != expected:
            raise ValidationError(
                f"artifact {source} digest mismatch: expected {digest}, got sha256:{actual}"
            )
        if target.stat().st_size != size:  # a corrupt stored copy: replace it
            self._copy_hashing(source, target, expected)
        return uri, size

    def _copy_hashing(self, source: Path, target: Path, expected: str) -> tuple[str, int]:
        """Copy ``source`` to ``target`` via a temp file; rename only if the hash matches."""
        self.directory.mkdir(parents=True, exist_ok=True)
        temp = self.directory / f".{target.name}.{uuid.uuid4().hex}.tmp"
        h = hashlib.sha256()
        size = 0
        try:
            with source.open("rb") as src, temp.open("wb") as dst:
                while chunk := src.read(_CHUNK):
                    h.update(chunk)
                    size += len(chunk)
                    dst.write(chunk)
                dst.flush()
                os.fsync(dst.fileno())
            actual = h.hexdigest()
            if actual == expected:
                os.replace(temp, target)
        finally:
            with contextlib.suppress(FileNotFoundError):
                temp.unlink()
        return actual, size

    async def verify(self, uri: str, digest: str, size_bytes: int) -> None:
        expected = _hex_of(digest)
        if expected is None:
            raise Conflict(f"artifact digest must be sha256:<hex>, got {digest!r}")
        path = _path_of(uri)
        signature = await asyncio.to_thread(_stat_signature, path)
        if signature is None:
            raise Conflict(f"stored artifact {uri} is missing")
        if signature[2] != size_bytes:
            raise Conflict(f"stored artifact {uri} has {signature[2]} bytes, expected {size_bytes}")
        key = (uri, expected, size_bytes)
        if self._verified.get(key) == signature:
            return
        try:
            actual, _ = await asyncio.to_thread(_sha256_of, path)
        except OSError as exc:
            raise Conflict(f"stored artifact {uri} is not readable: {exc}") from exc
        if actual != expected:
            raise Conflict(f"stored artifact {uri} checksum mismatch: expected {digest}")
        self._verified[key] = signature

    async def open_bytes(self, uri: str) -> bytes:
        try:
            return await asyncio.to_thread(_path_of(uri).read_bytes)
        except FileNotFoundError as exc:
            raise NotFound(f"stored artifact {uri} does not exist") from exc
