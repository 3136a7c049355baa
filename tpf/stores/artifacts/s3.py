"""The ``s3`` artifact store (``releases.storage.provider=s3``): content-addressed S3 objects.

An artifact lives at ``s3://{bucket}/{prefix}/sha256/{hex}{ext}`` (spec §5.5; ``ext`` is the
source file's suffix) with object metadata ``sha256=<hex>``. Endpoint override, region and
path-style addressing come from the settings through :class:`~tpf.aws.clients.AwsClients`.

``put_file`` hashes the file while reading it (file I/O off the event loop) and uploads only if
the object is absent (HEAD first), so re-registering a release costs one HEAD plus a local hash.
An object appears only once its digest is proven: a small file is hashed before its single
``PutObject`` (which also carries ``ChecksumSHA256``, so S3 rejects bytes damaged in transit); a
large one is streamed as a multipart upload that is completed only if the digest matched and
aborted otherwise. Memory stays bounded by one part either way.

``verify`` runs on every activation and submit-time check. The original re-downloads and
re-hashes the object each time; here it is one HEAD (size and the ``sha256`` metadata this store
wrote after proving the digest), remembered per ``(uri, digest, size)``: objects are immutable
and content-addressed, so a match cannot stop matching short of someone deleting or overwriting
the object behind the coordinator's back, which a restart (or the next ``put_file``) notices.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import io
import re
from pathlib import Path
from typing import Any, BinaryIO, Protocol, cast

from tpf.aws.clients import AwsClients, error_code
from tpf.config.settings import Settings
from tpf.core.errors import Conflict, NotFound, RetryableError, TpfError, ValidationError

PART_BYTES = 16 * 1024 * 1024  # multipart part size; S3 requires >= 5 MiB for all but the last
_MISSING = frozenset({"404", "NoSuchKey", "NotFound"})
_DIGEST = re.compile(r"sha256:([0-9a-fA-F]{64})")


class S3Client(Protocol):
    """The part of aiobotocore's S3 client this module uses (responses are plain dicts)."""

    async def head_object(self, **kwargs: Any) -> dict[str, Any]: ...
    async def put_object(self, **kwargs: Any) -> dict[str, Any]: ...
    async def get_object(self, **kwargs: Any) -> dict[str, Any]: ...
    async def create_multipart_upload(self, **kwargs: Any) -> dict[str, Any]: ...
    async def upload_part(self, **kwargs: Any) -> dict[str, Any]: ...
    async def complete_multipart_upload(self, **kwargs: Any) -> dict[str, Any]: ...
    async def abort_multipart_upload(self, **kwargs: Any) -> dict[str, Any]: ...


def _hex_of(digest: str) -> str | None:
    match = _DIGEST.fullmatch(digest)
    return match.group(1).lower() if match else None


def parse_s3_uri(uri: str) -> tuple[str, str]:
    """``s3://bucket/key`` -> ``(bucket, key)``."""
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    if not uri.startswith("s3://") or not bucket or not key:
        raise Conflict(f"not an S3 artifact URI: {uri!r}")
    return bucket, key


def _unavailable(what: str, exc: BaseException) -> RetryableError:
    return RetryableError(f"S3 {what} failed: {error_code(exc) or type(exc).__name__}: {exc}")


def _read_hashing(f: BinaryIO, h: Any, size: int) -> bytes:
    chunk = f.read(size)
    h.update(chunk)
    return chunk


class S3ArtifactStore:
    def __init__(
        self, aws: AwsClients, settings: Settings, *, part_bytes: int = PART_BYTES
    ) -> None:
        if not settings.s3.bucket:
            raise ValueError("S3ArtifactStore needs settings.s3_bucket")
        self._aws = aws
        self.bucket = settings.s3.bucket
        self.prefix = settings.s3.prefix.strip("/")
        self._part_bytes = part_bytes
        self._verified: set[tuple[str, str, int]] = set()

    async def _s3(self) -> S3Client:
        return cast(S3Client, await self._aws.client("s3"))

    def key_for(self, hex_digest: str, suffix: str) -> str:
        name = f"sha256/{hex_digest}{suffix}"
        return f"{self.prefix}/{name}" if self.prefix else name

    async def _head(self, bucket: str, key: str) -> dict[str, Any] | None:
        try:
            return await (await self._s3()).head_object(Bucket=bucket, Key=key)
        except Exception as exc:
            if error_code(exc) in _MISSING:
                return None
            raise _unavailable(f"HeadObject s3://{bucket}/{key}", exc) from exc

    # ------------------------------------------------------------------ put

    async def put_file(self, path: str, digest: str) -> tuple[str, int]:
        expected = _hex_of(digest)
        if expected is None:
            raise ValidationError(f"artifact digest must be sha256:<hex>, got {digest!r}")
        source = Path(path)
        key = self.key_for(expected, source.suffix)
        uri = f"s3://{self.bucket}/{key}"
        try:
            f = await asyncio.to_thread(source.open, "rb")
        except OSError as exc:
            raise ValidationError(f"artifact file {source} is not readable: {exc}") from exc
        try:
            head = await self._head(self.bucket, key)
            if head is not None and head.get("Metadata", {}).get("sha256") == expected:
                # Stored already: still prove the caller's file is what it claims to be.
                actual, size = await asyncio.to_thread(self._hash_rest, f)
                stored_size = int(head.get("ContentLength", -1))
                if actual == expected and stored_size == size:
                    self._verified.add((uri, expected, size))
                    return uri, size
                if actual != expected:
                    raise self._mismatch(source, digest, actual)
                await asyncio.to_thread(f.seek, 0)  # a wrong stored size: upload it again
            size = await self._upload(f, key, expected, source, digest)
        finally:
            await asyncio.to_thread(f.close)
        self._verified.add((uri, expected, size))
        return uri, size

    @staticmethod
    def _hash_rest(f: BinaryIO) -> tuple[str, int]:
        h = hashlib.sha256()
        size = 0
        while chunk := f.read(1024 * 1024):
            h.update(chunk)
            size += len(chunk)
        return h.hexdigest(), size

    @staticmethod
    def _mismatch(source: Path, digest: str, actual: str) -> ValidationError:
        return ValidationError(
            f"artifact {source} digest mismatch: expected {digest}, got sha256:{actual}"
        )

    async def _upload(self, f: BinaryIO, key: str, expected: str, source: Path, digest: str) -> int:
        s3 = await self._s3()
        h = hashlib.sha256()
        first = await asyncio.to_thread(_read_hashing, f, h, self._part_bytes)
        if len(first) < self._part_bytes:  # the whole file: one request
            if h.hexdigest() != expected:
                raise self._mismatch(source, digest, h.hexdigest())
            try:
                await s3.put_object(
                    Bucket=self.bucket,
                    Key=key,
                    Body=first,
                    Metadata={"sha256": expected},
                    ChecksumSHA256=base64.b64encode(h.digest()).decode(),
                )
            except Exception as exc:
                raise _unavailable(f"PutObject s3://{self.bucket}/{key}", exc) from exc
            return len(first)
        return await self._upload_parts(s3, f, h, first, key, expected, source, digest)

    async def _upload_parts(
        self,
        s3: S3Client,
        f: BinaryIO,
        h: Any,
        first: bytes,
        key: str,
        expected: str,
        source: Path,
        digest: str,
    ) -> int:
        where = f"s3://{self.bucket}/{key}"
        try:
            created = await s3.create_multipart_upload(
                Bucket=self.bucket, Key=key, Metadata={"sha256": expected}
            )
        except Exception as exc:
            raise _unavailable(f"CreateMultipartUpload {where}", exc) from exc
        upload_id = created["UploadId"]
        parts: list[dict[str, Any]] = []
        size = 0
        chunk = first
        try:
            while chunk:
                number = len(parts) + 1
                done = await s3.upload_part(
                    Bucket=self.bucket,
                    Key=key,
                    UploadId=upload_id,
                    PartNumber=number,
                    Body=io.BytesIO(chunk),
                )
                parts.append({"PartNumber": number, "ETag": done["ETag"]})
                size += len(chunk)
                chunk = await asyncio.to_thread(_read_hashing, f, h, self._part_bytes)
            if h.hexdigest() != expected:
                raise self._mismatch(source, digest, h.hexdigest())
            await s3.complete_multipart_upload(
                Bucket=self.bucket,
                Key=key,
                UploadId=upload_id,
                MultipartUpload={"Parts": parts},
            )
        except BaseException as exc:
            # Never leave a half-written or unproven object (or its parts) behind.
            with contextlib.suppress(Exception):  # the original error is the one to report
                await s3.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload_id)
            if isinstance(exc, Exception) and not isinstance(exc, TpfError):
                raise _unavailable(f"multipart upload {where}", exc) from exc
            raise
        return size

    # ------------------------------------------------------------------ verify & read

    async def verify(self, uri: str, digest: str, size_bytes: int) -> None:
        expected = _hex_of(digest)
        if expected is None:
            raise Conflict(f"artifact digest must be sha256:<hex>, got {digest!r}")
        cache_key = (uri, expected, size_bytes)
        if cache_key in self._verified:
            return
        bucket, key = parse_s3_uri(uri)
        head = await self._head(bucket, key)
        if head is None:
            raise Conflict(f"stored artifact {uri} is missing")
        stored_size = int(head.get("ContentLength", -1))
        if stored_size != size_bytes:
            raise Conflict(f"stored artifact {uri} has {stored_size} bytes, expected {size_bytes}")
        if head.get("Metadata", {}).get("sha256") != expected:
            raise Conflict(f"stored artifact {uri} checksum mismatch: expected {digest}")
        self._verified.add(cache_key)

    async def open_bytes(self, uri: str) -> bytes:
        bucket, key = parse_s3_uri(uri)
        try:
            response = await (await self._s3()).get_object(Bucket=bucket, Key=key)
            async with response["Body"] as body:
                data = await body.read()
        except Exception as exc:
            if error_code(exc) in _MISSING:
                raise NotFound(f"stored artifact {uri} does not exist") from exc
            raise _unavailable(f"GetObject {uri}", exc) from exc
        return cast(bytes, data)
