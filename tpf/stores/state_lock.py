"""The state-directory lock: one coordinator process per embedded state directory.

The embedded providers keep mutable state in local files that only one process may use: the
SQLite database (``state-provider`` or ``worker.lifecycle.provider`` ``sqlite``: its
execution leases and due times assume no other coordinator claims them) and the ``file``
release registry (rewritten whole on every change from an in-memory copy: a second writer
would silently lose the first one's releases). Opening them takes an exclusive
``fcntl.flock`` on ``tpf.lock`` in their directory (the state directory, ``TPF_STATE_DIR``,
unless the SQLite file or release root was moved out of it), held until the stores close. The
kernel releases it when the process dies, even on SIGKILL, so a stale lock file never blocks a
restart; the holder writes its pid into the file so a refused second process can name it.

Local artifact storage alone takes no lock: artifacts are immutable, content-addressed and
written atomically, so coordinators sharing DynamoDB state may share an artifact directory.

Holding the lock proves that no other live coordinator uses the state, so a restarted
coordinator may take over its dead predecessor's leases at once instead of waiting them out
(:meth:`tpf.stores.sqlite.SqliteExecutionStore.expire_leases`).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path

from tpf.config.settings import Settings
from tpf.core.errors import StoreUnusable

LOCK_FILE = "tpf.lock"


class StateDirInUse(StoreUnusable):
    """Another live process holds the state directory's lock."""

    code = "STATE_DIR_IN_USE"


def locked_directories(settings: Settings) -> list[Path]:
    """The directories whose lock the configured providers need (none off the embedded shape).

    A directory inside the state directory is covered by the state directory's lock.
    """
    needed: list[Path] = []
    if "sqlite" in (settings.state.provider, settings.workers.lifecycle_provider):
        needed.append(Path(settings.resolved_sqlite_path).resolve().parent)
    if settings.releases.registry_provider == "file":
        needed.append(Path(settings.resolved_releases_root).resolve())
    state_dir = Path(settings.state.dir).resolve()
    found: list[Path] = []
    for directory in needed:
        resolved = state_dir if directory.is_relative_to(state_dir) else directory
        if resolved not in found:
            found.append(resolved)
    return found


class StateLock:
    """An exclusive ``flock`` on ``<directory>/tpf.lock``, held until :meth:`release`."""

    def __init__(self, directory: Path, fd: int) -> None:
        self.directory = directory
        self._fd: int | None = fd

    @property
    def path(self) -> Path:
        return self.directory / LOCK_FILE

    @classmethod
    def acquire(cls, directory: Path) -> StateLock:
        """Lock ``directory`` (created if absent) or raise :class:`StateDirInUse`, or
        :class:`StoreUnusable` if it cannot be created or written (read-only, not a directory).
        """
        path = directory / LOCK_FILE
        try:
            directory.mkdir(parents=True, exist_ok=True)
            # Not O_TRUNC: the file may hold the live holder's pid, which a refusal reports.
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            raise StoreUnusable(
                f"state directory {directory} cannot be used: {exc.strerror or exc} "
                f"(creating {exc.filename or path}); it must be a writable directory"
            ) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_pid(fd)
            os.close(fd)
            raise StateDirInUse(
                f"state directory {directory} is in use by another coordinator "
                f"(pid {holder or 'unknown'}, lock {path}); stop it, or give this one its "
                "own TPF_STATE_DIR"
            ) from None
        except BaseException:
            os.close(fd)
            raise
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        return cls(directory, fd)

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is None:
            return
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)  # no pid of a process that no longer holds it
        os.close(fd)  # closing the only descriptor releases the flock


def _read_pid(fd: int) -> str:
    with contextlib.suppress(OSError):
        return os.pread(fd, 32, 0).decode(errors="replace").strip()
    return ""


def acquire_all(settings: Settings) -> list[StateLock]:
    """Every lock ``settings`` needs, or none (what was taken is released on failure)."""
    locks: list[StateLock] = []
    try:
        for directory in locked_directories(settings):
            locks.append(StateLock.acquire(directory))
    except BaseException:
        for lock in locks:
            lock.release()
        raise
    return locks
