"""Release registration by upload: the descriptor and its artifacts in one multipart request.

The original can only register a descriptor already on the coordinator's filesystem, which
forces operators to copy files onto the host first. Here a ``multipart/form-data`` request
carries a ``descriptor`` part (``pipeline-release.json``) and one part per local artifact, named
(part name or filename) after the artifact's ``artifactId`` or the basename of its ``uri``. The
parts are streamed to ``<state_dir>/uploads/<uuid>/``, each is given its artifact's relative uri
as its name there (or, for an absolute uri, the descriptor's uri is rewritten to the saved file),
and the descriptor is registered from there, so exactly the same validation (digests, embedded
contract) runs as for a path registration, and the same build registers idempotently either way.
The upload directory is always importable, whatever ``tpf.releases.import-roots`` says: an
upload is how a client on another machine registers (an artifact the descriptor names by an
absolute server path, without a part, is still read under the roots).
"""

from __future__ import annotations

import asyncio
import re
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlparse

import msgspec
from aiohttp import BodyPartReader, web
from aiohttp.http_exceptions import HttpProcessingError

from tpf.authoring.build import DESCRIPTOR_NAME
from tpf.authoring.descriptor import LOCAL_KINDS
from tpf.coordinator import Coordinator
from tpf.core.errors import TpfError, ValidationError
from tpf.core.json_depth import check_depth
from tpf.core.records import ReleaseRecord
from tpf.engine.release_files import upload_root

DESCRIPTOR_PART = "descriptor"
_CHUNK = 1 << 16
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


class UploadTooLarge(TpfError):
    code = "PAYLOAD_TOO_LARGE"
    http_status = 413
    retryable = False


@dataclass(frozen=True)
class _Part:
    name: str
    filename: str | None
    path: Path

    @property
    def label(self) -> str:
        return self.filename or self.name


async def register_upload(
    coordinator: Coordinator, request: web.Request, tenant_id: str, pipeline_id: str
) -> ReleaseRecord:
    settings = coordinator.settings
    directory = await asyncio.to_thread(_new_directory, settings.state.dir)
    try:
        try:
            raw, parts = await _receive(
                request, directory, settings.http.max_body_bytes, settings.http.max_upload_bytes
            )
        except (ValueError, RuntimeError, AssertionError, HttpProcessingError) as exc:
            # aiohttp's multipart reader reports a malformed body with these (asserts included).
            raise ValidationError(f"malformed multipart body: {exc}") from None
        descriptor = _parse_descriptor(raw, settings.http.max_json_depth)
        await asyncio.to_thread(_bind_artifacts, descriptor, parts, directory)
        path = directory / DESCRIPTOR_NAME
        await asyncio.to_thread(path.write_bytes, msgspec.json.encode(descriptor))
        return await coordinator.register_release(tenant_id, pipeline_id, str(path))
    except BaseException:
        # A rejected upload leaves nothing behind; an accepted one stays as the release's source.
        await asyncio.to_thread(shutil.rmtree, directory, True)
        raise


def _new_directory(state_dir: str) -> Path:
    directory = upload_root(state_dir) / uuid.uuid4().hex
    directory.mkdir(parents=True)
    return directory


async def _receive(
    request: web.Request, directory: Path, max_descriptor: int, max_total: int
) -> tuple[bytes, list[_Part]]:
    reader = await request.multipart()
    descriptor: bytes | None = None
    parts: list[_Part] = []
    total = 0
    while (part := await reader.next()) is not None:
        if not isinstance(part, BodyPartReader):
            raise ValidationError("nested multipart bodies are not supported")
        name = (part.name or "").strip()
        if name == DESCRIPTOR_PART:
            if descriptor is not None:
                raise ValidationError("descriptor: sent more than once")
            descriptor = bytes(await _read_all(part, max_descriptor))
            continue
        if not name and not part.filename:
            raise ValidationError("every uploaded part needs a name or a filename")
        target = directory / f"{len(parts)}-{_UNSAFE.sub('_', part.filename or name)[:100]}"
        total = await _save(part, target, total, max_total)
        parts.append(_Part(name, part.filename, target))
    if descriptor is None:
        raise ValidationError(f"{DESCRIPTOR_PART}: a part with the release descriptor is required")
    return descriptor, parts


async def _read_all(part: BodyPartReader, limit: int) -> bytearray:
    data = bytearray()
    while chunk := await part.read_chunk(_CHUNK):
        data.extend(chunk)
        if len(data) > limit:
            raise UploadTooLarge(f"descriptor: larger than {limit} bytes (tpf.http.max-body-bytes)")
    return data


async def _save(part: BodyPartReader, target: Path, total: int, limit: int) -> int:
    handle = await asyncio.to_thread(target.open, "wb")
    try:
        while chunk := await part.read_chunk(_CHUNK):
            total += len(chunk)
            if total > limit:
                raise UploadTooLarge(
                    f"upload larger than {limit} bytes (tpf.http.max-upload-bytes)"
                )
            await asyncio.to_thread(handle.write, chunk)
    finally:
        await asyncio.to_thread(handle.close)
    return total


def _parse_descriptor(raw: bytes, max_depth: int) -> dict[str, Any]:
    check_depth(raw, max_depth, field=DESCRIPTOR_PART)
    try:
        descriptor = msgspec.json.decode(raw)
    except msgspec.DecodeError as exc:
        raise ValidationError(f"descriptor: malformed JSON: {exc}") from None
    except RecursionError:  # a bound set above what the stack allows still answers 400
        raise ValidationError("descriptor: JSON nested too deeply") from None
    if not isinstance(descriptor, dict):
        raise ValidationError("descriptor: must be a JSON object")
    return descriptor


def _basename(uri: str) -> str:
    path = urlparse(uri).path if uri.startswith("file:") else uri
    return PurePosixPath(path).name


def _keep_relative(artifact: dict[str, Any], part: _Part, directory: Path) -> bool:
    """Save ``part`` under the artifact's relative uri (a plain file name) next to the saved
    descriptor, so the registered descriptor is the one the client sent, byte for byte: an
    upload then registers idempotently with another upload or a path registration of the same
    build. ``False`` when the uri is absolute, has directories, or the name is taken."""
    uri = artifact.get("uri")
    if not isinstance(uri, str) or uri in ("", ".", "..", DESCRIPTOR_NAME) or _UNSAFE.search(uri):
        return False
    target = directory / uri
    if target.exists():
        return False
    target.hardlink_to(part.path)  # a second name, not a copy (two artifacts may share a part)
    return True


def _bind_artifacts(descriptor: dict[str, Any], parts: list[_Part], directory: Path) -> None:
    """Point each artifact with an uploaded part at the saved file; every part must be used."""
    unused = list(parts)
    artifacts = descriptor.get("artifacts")
    # A malformed artifact list is left for the registrar, which names the exact problem.
    for i, artifact in enumerate(artifacts if isinstance(artifacts, list) else ()):
        if not isinstance(artifact, dict):
            continue
        artifact_id, uri = artifact.get("artifactId"), artifact.get("uri")
        keys = {k for k in (artifact_id, _basename(uri) if isinstance(uri, str) else None) if k}
        match = next((p for p in parts if p.name in keys or p.filename in keys), None)
        if match is not None:
            if not _keep_relative(artifact, match, directory):
                artifact["uri"] = str(match.path)
            if match in unused:
                unused.remove(match)
        elif artifact.get("kind") in LOCAL_KINDS and not (
            isinstance(uri, str) and (uri.startswith("file:") or PurePosixPath(uri).is_absolute())
        ):
            raise ValidationError(
                f"artifacts[{i}]: no uploaded part named {artifact_id!r}"
                + (f" or {_basename(uri)!r}" if isinstance(uri, str) and uri else "")
            )
    if unused:
        names = ", ".join(repr(p.label) for p in unused)
        raise ValidationError(f"uploaded part(s) {names} match no artifact of the descriptor")
