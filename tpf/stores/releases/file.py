"""The ``file`` release registry: ``<root>/registry/releases.json``.

The file holds the immutable release records and the append-only activation events; a
record's ACTIVE/REGISTERED status is derived from the events on read (the same rules as
:class:`tpf.stores.memory.releases.MemoryReleaseStore`, which this store extends with persistence).
Every change rewrites the whole file atomically (temp file, fsync, ``os.replace``) off the event
loop, under an asyncio lock so writes never interleave; a change whose write fails is rolled
back in memory too.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import uuid
from pathlib import Path

import msgspec

from tpf.core.errors import ConfigError
from tpf.core.records import ReleaseRecord
from tpf.stores.memory.releases import MemoryReleaseStore
from tpf.stores.rules import ReleaseActivation


class _RegistryFile(msgspec.Struct, rename="camel"):
    schema_version: int = 1
    releases: list[ReleaseRecord] = msgspec.field(default_factory=list)
    activations: list[ReleaseActivation] = msgspec.field(default_factory=list)


_decode_file = msgspec.json.Decoder(_RegistryFile).decode
_encoder = msgspec.json.Encoder()


def _read(path: Path) -> _RegistryFile:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return _RegistryFile()
    try:
        return _decode_file(data)
    except msgspec.DecodeError as exc:
        raise ConfigError(f"release registry {path} is not readable: {exc}") from exc


def _write_atomically(path: Path, content: _RegistryFile) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        with temp.open("wb") as f:
            f.write(_encoder.encode(content))
            f.flush()
            os.fsync(f.fileno())
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            temp.unlink()
        raise
    # Make the rename itself durable (best effort: not every platform can fsync a directory).
    with contextlib.suppress(OSError):
        fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


class FileReleaseStore(MemoryReleaseStore):
    """A :class:`MemoryReleaseStore` whose every change is persisted to a JSON file."""

    def __init__(self, root: str) -> None:
        super().__init__()
        self.path = Path(root) / "registry" / "releases.json"
        self._write_lock = asyncio.Lock()

    @classmethod
    async def open(cls, root: str) -> FileReleaseStore:
        """Load the registry file under ``root`` (an absent file is an empty registry)."""
        store = cls(root)
        content = await asyncio.to_thread(_read, store.path)
        for record in content.releases:
            store._register(record)
        store._activations = list(content.activations)
        store._rebuild_activation_indexes()
        return store

    def _snapshot(self) -> _RegistryFile:
        releases = [r for versions in self._releases.values() for r in versions.values()]
        return _RegistryFile(releases=releases, activations=list(self._activations))

    async def _persist(self) -> None:
        await asyncio.to_thread(_write_atomically, self.path, self._snapshot())

    async def register(self, record: ReleaseRecord) -> ReleaseRecord:
        async with self._write_lock:
            stored, created = self._register(record)
            if created:
                try:
                    await self._persist()
                except BaseException:
                    self._unregister(stored)  # not on disk, so not registered
                    raise
            return self._derive(stored)

    async def activate(
        self, tenant_id: str, pipeline_id: str, release_version: str, now_ms: int
    ) -> ReleaseRecord:
        async with self._write_lock:
            event = self._activation_for(tenant_id, pipeline_id, release_version, now_ms)
            self._apply_activation(event)
            try:
                await self._persist()
            except BaseException:
                self._activations.pop()
                self._rebuild_activation_indexes()
                raise
            return self._derive(self._releases[(tenant_id, pipeline_id)][release_version])
