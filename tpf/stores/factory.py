"""Build the :class:`StoreSet` a coordinator runs on from its :class:`Settings`.

One SQLite database (one file, one connection thread) is shared by every ``sqlite`` provider so
their writes share group commits. Providers this build does not implement fail startup with a
:class:`ConfigError` naming the setting, instead of failing on first use.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from tpf.aws import AwsClients
from tpf.errors import ConfigError
from tpf.settings import Settings
from tpf.stores.artifacts import LocalArtifactStore
from tpf.stores.base import (
    ArtifactStore,
    AwaitStore,
    ExecutionStore,
    ReleaseStore,
    StoreSet,
    WorkerStore,
)
from tpf.stores.file_releases import FileReleaseStore
from tpf.stores.memory import (
    MemoryAwaitStore,
    MemoryExecutionStore,
    MemoryReleaseStore,
    MemoryWorkerStore,
)
from tpf.stores.sqlite import (
    SqliteAwaitStore,
    SqliteDatabase,
    SqliteExecutionStore,
    SqliteWorkerStore,
)


def _check(setting: str, value: str, supported: tuple[str, ...]) -> None:
    if value not in supported:
        raise ConfigError(
            f"{setting}={value} is not available in this build yet "
            f"(supported: {', '.join(supported)})"
        )


async def open_stores(settings: Settings, aws: AwsClients | None = None) -> StoreSet:
    """Open every store named by ``settings``; close them with :meth:`StoreSet.close`.

    ``aws`` is the coordinator's shared AWS clients, needed by the ``dynamo`` and ``s3``
    providers (the caller closes it).
    """
    _check("state-provider", settings.state_provider, ("memory", "sqlite"))
    _check("releases-registry-provider", settings.releases_registry_provider, ("memory", "file"))
    _check("releases-storage-provider", settings.releases_storage_provider, ("local",))
    _check("worker-lifecycle-provider", settings.worker_lifecycle_provider, ("memory", "sqlite"))

    closers: list[Callable[[], Awaitable[None]]] = []
    db: SqliteDatabase | None = None
    if "sqlite" in (settings.state_provider, settings.worker_lifecycle_provider):
        db = await SqliteDatabase.open(
            settings.resolved_sqlite_path, synchronous=settings.sqlite_synchronous
        )
        closers.append(db.close)

    executions: ExecutionStore
    awaits: AwaitStore
    if db is not None and settings.state_provider == "sqlite":
        executions, awaits = SqliteExecutionStore(db), SqliteAwaitStore(db)
    else:
        executions, awaits = MemoryExecutionStore(), MemoryAwaitStore()

    workers: WorkerStore
    if db is not None and settings.worker_lifecycle_provider == "sqlite":
        workers = SqliteWorkerStore(db)
    else:
        workers = MemoryWorkerStore()

    releases: ReleaseStore
    try:
        if settings.releases_registry_provider == "file":
            releases = await FileReleaseStore.open(settings.resolved_releases_root)
        else:
            releases = MemoryReleaseStore()
    except BaseException:
        if db is not None:
            await db.close()
        raise
    artifacts: ArtifactStore = LocalArtifactStore(settings.resolved_releases_root)
    return StoreSet(
        executions=executions,
        awaits=awaits,
        releases=releases,
        workers=workers,
        artifacts=artifacts,
        closers=closers,
    )
