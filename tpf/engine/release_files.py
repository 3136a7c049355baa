"""Reading the server files a path registration names: regular files only, bounded, confined.

``POST …/releases/register {"releaseDescriptorPath": …}`` (the original's only way to register)
makes the coordinator read files on its own filesystem: the descriptor and each local artifact
it names. Whoever holds the admin token chooses those paths, so every read here is defensive:

* A path must be absolute text without a NUL byte (else a 400 naming the field).
* With ``tpf.releases.import-roots`` set, the path, with symlinks and ``..`` resolved, must lie
  under one of those directories (or under the coordinator's own upload directory, where
  multipart uploads are saved). Unset means anywhere, as in the original, so its operator
  scripts keep working.
* Only regular files are read. The path is ``lstat``-ed before it is opened, so a device is
  never even opened (opening one can have effects), then opened ``O_NONBLOCK`` (a FIFO swapped
  in meanwhile cannot block the open) and ``O_NOFOLLOW``, and ``fstat``-ed: the file read is
  the regular file that was checked, or the read is refused.
* Reads are capped: at most ``cap + 1`` bytes are read, so ``/dev/zero``-like input cannot
  exhaust memory or disk.
* An artifact is read once, into a private staging copy, while it is hashed; every later check
  (digest, embedded contract, code manifest) and the copy into the artifact store use that
  copy, so the file cannot change between being checked and being stored.

The registrar runs these blocking reads on anyio worker threads under a small dedicated
limiter (not the event loop's default executor, which the artifact store and other requests
share) and under an overall deadline, so no registration can wedge another request.
"""

from __future__ import annotations

import hashlib
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from tpf.core.errors import ValidationError

if TYPE_CHECKING:
    from tpf.config.settings import Settings

IMPORT_ROOTS_KEY = "tpf.releases.import-roots"
UPLOADS_DIR = "uploads"
READER_THREADS = 2  # registrations reading files at once; each is one thread
_CHUNK = 1 << 20
_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISLNK, "a symbolic link"),
)
# Defaults mirror Settings (tpf.http.max-body-bytes, tpf.http.max-upload-bytes, tpf.ask-timeout).
_DEFAULT_MAX_JSON_BYTES = 1_048_576
_DEFAULT_MAX_ARTIFACT_BYTES = 268_435_456
_DEFAULT_TIMEOUT_S = 30.0
_DEFAULT_MAX_DEPTH = 64


def upload_root(state_dir: str) -> Path:
    """Where multipart uploads are saved (``<state dir>/uploads``), always importable."""
    return Path(state_dir).resolve() / UPLOADS_DIR


@dataclass(frozen=True)
class ImportPolicy:
    """What a path registration may read, and how much."""

    roots: tuple[Path, ...] = ()  # absolute directories, as configured; empty: anywhere
    trusted: tuple[Path, ...] = ()  # importable even outside the roots (the upload directory)
    max_json_bytes: int = _DEFAULT_MAX_JSON_BYTES  # the descriptor; contract/manifest entries
    max_artifact_bytes: int = _DEFAULT_MAX_ARTIFACT_BYTES  # all artifacts of one descriptor
    max_json_depth: int = _DEFAULT_MAX_DEPTH
    timeout_s: float = _DEFAULT_TIMEOUT_S  # all file work of one registration
    staging_dir: Path | None = None  # None: the system's temporary directory

    @classmethod
    def from_settings(cls, settings: Settings) -> ImportPolicy:
        uploads = upload_root(settings.state.dir)
        return cls(
            roots=tuple(Path(root) for root in settings.releases.import_roots),
            trusted=(uploads,),
            max_json_bytes=settings.http.max_body_bytes,
            max_artifact_bytes=settings.http.max_upload_bytes,
            max_json_depth=settings.http.max_json_depth,
            timeout_s=settings.execution.ask_timeout_ms / 1000,
            staging_dir=uploads,
        )


def checked_path(text: str, field: str) -> str:
    """``text`` if it can name a file at all; a NUL byte, blank or undecodable text is a 400."""
    if not text.strip():
        raise ValidationError(f"{field} is required")
    if "\x00" in text:
        raise ValidationError(f"{field}: must not contain a NUL byte")
    try:
        os.fsencode(text)
    except UnicodeError:
        raise ValidationError(f"{field}: is not a valid file name") from None
    return text


def confine(path: Path, policy: ImportPolicy, field: str) -> Path:
    """``path`` with symlinks and ``..`` resolved, if it lies where the policy allows."""
    if not path.is_absolute():
        raise ValidationError(f"{field} must be an absolute path: {path}")
    resolved = Path(os.path.realpath(path))
    # Roots are resolved on every check too: a root that is a symlink may be re-pointed.
    if policy.roots and not any(
        resolved.is_relative_to(os.path.realpath(root)) for root in (*policy.roots, *policy.trusted)
    ):
        roots = ",".join(str(root) for root in policy.roots)
        raise ValidationError(
            f"{field}: {path} is not under an import root ({IMPORT_ROOTS_KEY}={roots})"
        )
    return resolved


def open_regular(path: Path, field: str, shown: str) -> int:
    """A read-only descriptor of the regular file ``path`` (resolved); anything else is a 400.

    ``shown`` is how the message names the file (what the request said, not the resolved path).
    """
    unreadable = f"{field} is not a readable file: {shown}"
    try:
        before = os.lstat(path)
    except (OSError, ValueError):
        raise ValidationError(unreadable) from None
    _require_regular(before, field, shown)
    flags = os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_NOCTTY | os.O_CLOEXEC
    try:
        fd = os.open(path, flags)
    except (OSError, ValueError):
        raise ValidationError(unreadable) from None
    try:
        opened = os.fstat(fd)
        _require_regular(opened, field, shown)
        if (opened.st_dev, opened.st_ino) != (before.st_dev, before.st_ino):
            raise ValidationError(f"{field}: {shown} was replaced while it was being opened")
    except BaseException:
        os.close(fd)
        raise
    return fd


def _require_regular(st: os.stat_result, field: str, shown: str) -> None:
    if stat.S_ISREG(st.st_mode):
        return
    kind = next((name for test, name in _KINDS if test(st.st_mode)), "not a regular file")
    raise ValidationError(f"{field}: {shown} is not a regular file ({kind})")


def read_capped(fd: int, limit: int, too_large: str) -> bytes:
    """All of ``fd`` (closed afterwards) if it holds at most ``limit`` bytes, else a 400 saying
    ``too_large``; reads at most ``limit + 1`` bytes."""
    with os.fdopen(fd, "rb") as handle:
        data = handle.read(limit + 1)
    if len(data) > limit:
        raise ValidationError(too_large)
    return data


def copy_capped(fd: int, target: Path, limit: int, too_large: str) -> tuple[str, int]:
    """Copy ``fd`` (closed afterwards) to a new file ``target`` while hashing it.

    Returns ``(sha256:<hex>, size)``; reads at most ``limit + 1`` bytes, and more than ``limit``
    is a 400 saying ``too_large``.
    """
    digest = hashlib.sha256()
    size = 0
    with os.fdopen(fd, "rb") as source, target.open("xb") as copy:
        while chunk := source.read(min(_CHUNK, limit + 1 - size)):
            size += len(chunk)
            if size > limit:
                raise ValidationError(too_large)
            digest.update(chunk)
            copy.write(chunk)
    return "sha256:" + digest.hexdigest(), size
