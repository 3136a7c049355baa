"""Build the :class:`StoreSet` a coordinator runs on from its :class:`Settings`.

The AWS-backed stores (and so botocore) are imported only when a configuration names them:
the embedded default neither pays their import time nor carries their objects on its heap.

One SQLite database (one file, one connection thread) is shared by every ``sqlite`` provider so
their writes share group commits. Providers this build does not implement fail startup with a
:class:`ConfigError` naming the setting, instead of failing on first use.

The embedded providers' directory is locked for as long as the stores are open
(:mod:`tpf.stores.state_lock`); a second process on it fails to open them with
:class:`~tpf.stores.state_lock.StateDirInUse`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from tpf.aws import AwsClients
from tpf.errors import ConfigError
from tpf.settings import Settings
from tpf.stores.artifacts import LocalArtifactStore
from tpf.stores.base import (
    ArtifactStore,
    AwaitStore,
    ExecutionStore,
    HeldCompletionStore,
    ReleaseStore,
    StoreSet,
    WorkerStore,
)
from tpf.stores.memory import (
    MemoryAwaitStore,
    MemoryExecutionStore,
    MemoryHeldCompletionStore,
    MemoryReleaseStore,
    MemoryWorkerStore,
)
from tpf.stores.releases.file import FileReleaseStore
from tpf.stores.sqlite import (
    SqliteAwaitStore,
    SqliteDatabase,
    SqliteExecutionStore,
    SqliteHeldCompletionStore,
    SqliteWorkerStore,
)
from tpf.stores.state_lock import StateLock, acquire_all


def _check(setting: str, value: str, supported: tuple[str, ...]) -> None:
    if value not in supported:
        raise ConfigError(
            f"{setting}={value} is not available in this build yet "
            f"(supported: {', '.join(supported)})"
        )


def _uses_dynamo(settings: Settings) -> bool:
    return "dynamo" in (
        settings.state_provider,
        settings.releases_registry_provider,
        settings.worker_lifecycle_provider,
    )


async def check_dynamo(aws: AwsClients, settings: Settings) -> list[str]:
    """Every DynamoDB table and index the configured ``dynamo`` providers need but lack."""
    if not _uses_dynamo(settings):
        return []
    from tpf.stores.dynamo import missing_resources

    return await missing_resources(await aws.client("dynamodb"), settings)


async def _open_dynamo(settings: Settings, aws: AwsClients | None) -> Any | None:
    """The shared DynamoDB client if a provider is ``dynamo`` (strict startup has already
    checked its tables and indexes: :mod:`tpf.startup_checks`)."""
    if not _uses_dynamo(settings):
        return None
    if aws is None:
        raise ConfigError("the dynamo providers need AWS clients (none were given)")
    return await aws.client("dynamodb")


async def open_stores(settings: Settings, aws: AwsClients | None = None) -> StoreSet:
    """Open every store named by ``settings``; close them with :meth:`StoreSet.close`.

    ``aws`` is the coordinator's shared AWS clients, needed by the ``dynamo`` and ``s3``
    providers (the caller closes it). The embedded providers' directory stays locked until
    the stores close; with SQLite state, the lock lets the coordinator reclaim the leases of
    a dead predecessor at once (:attr:`StoreSet.expire_leases`).
    """
    locks = acquire_all(settings)  # before any local file is opened
    try:
        stores = await _open_stores(settings, aws)
    except BaseException:
        for lock in locks:
            lock.release()
        raise
    stores.closers[:0] = [_releaser(lock) for lock in locks]  # closed last
    if locks and isinstance(stores.executions, SqliteExecutionStore):
        stores.expire_leases = stores.executions.expire_leases
    return stores


def _releaser(lock: StateLock) -> Callable[[], Awaitable[None]]:
    async def release() -> None:
        lock.release()

    return release


async def _open_stores(settings: Settings, aws: AwsClients | None) -> StoreSet:
    _check("state-provider", settings.state_provider, ("memory", "sqlite", "dynamo"))
    _check(
        "releases-registry-provider",
        settings.releases_registry_provider,
        ("memory", "file", "dynamo"),
    )
    _check("releases-storage-provider", settings.releases_storage_provider, ("local", "s3"))
    _check(
        "worker-lifecycle-provider",
        settings.worker_lifecycle_provider,
        ("memory", "sqlite", "dynamo"),
    )
    if settings.releases_storage_provider == "s3" and not settings.s3_bucket:
        raise ConfigError(
            "pipeline.orchestrator.releases.storage.s3.bucket is required when "
            "releases.storage.provider=s3"
        )
    if settings.releases_storage_provider == "s3" and aws is None:
        raise ConfigError("releases.storage.provider=s3 needs AWS clients (none were given)")

    dynamo = await _open_dynamo(settings, aws)  # checked before anything local is opened

    closers: list[Callable[[], Awaitable[None]]] = []
    db: SqliteDatabase | None = None
    if "sqlite" in (settings.state_provider, settings.worker_lifecycle_provider):
        db = await SqliteDatabase.open(
            settings.resolved_sqlite_path, synchronous=settings.sqlite_synchronous
        )
        closers.append(db.close)

    executions: ExecutionStore
    awaits: AwaitStore
    held: HeldCompletionStore
    if db is not None and settings.state_provider == "sqlite":
        executions, awaits = SqliteExecutionStore(db), SqliteAwaitStore(db)
        held = SqliteHeldCompletionStore(db)
    elif dynamo is not None and settings.state_provider == "dynamo":
        from tpf.stores.dynamo import (
            DynamoAwaitStore,
            DynamoExecutionStore,
            DynamoHeldCompletionStore,
        )

        executions = DynamoExecutionStore(dynamo, settings)
        awaits = DynamoAwaitStore(dynamo, settings)
        held = DynamoHeldCompletionStore(dynamo, settings)
    else:
        executions, awaits = MemoryExecutionStore(), MemoryAwaitStore()
        held = MemoryHeldCompletionStore()

    workers: WorkerStore
    if db is not None and settings.worker_lifecycle_provider == "sqlite":
        workers = SqliteWorkerStore(db)
    elif dynamo is not None and settings.worker_lifecycle_provider == "dynamo":
        from tpf.stores.dynamo import DynamoWorkerStore

        workers = DynamoWorkerStore(dynamo, settings)
    else:
        workers = MemoryWorkerStore()

    releases: ReleaseStore
    try:
        if settings.releases_registry_provider == "file":
            releases = await FileReleaseStore.open(settings.resolved_releases_root)
        elif dynamo is not None and settings.releases_registry_provider == "dynamo":
            from tpf.stores.dynamo import DynamoReleaseStore

            releases = DynamoReleaseStore(dynamo, settings)
        else:
            releases = MemoryReleaseStore()
    except BaseException:
        if db is not None:
            await db.close()
        raise
    health = [] if db is None else [db.health]
    if dynamo is not None:
        from tpf.stores.dynamo.client import health_of

        health.append(health_of(dynamo, probe_table=_probe_table(settings)))
    artifacts: ArtifactStore
    if settings.releases_storage_provider == "s3":
        from tpf.stores.artifacts.s3 import S3ArtifactStore

        assert aws is not None  # checked before anything was opened
        artifacts = S3ArtifactStore(aws, settings)
    else:
        artifacts = LocalArtifactStore(settings.resolved_releases_root)
    return StoreSet(
        executions=executions,
        awaits=awaits,
        releases=releases,
        workers=workers,
        artifacts=artifacts,
        held=held,
        closers=closers,
        health=health,
    )


def _probe_table(settings: Settings) -> str:
    """A table the ``dynamo`` providers use, for the readiness probe to describe."""
    if settings.state_provider == "dynamo":
        return settings.dynamo_execution_table
    if settings.worker_lifecycle_provider == "dynamo":
        return settings.dynamo_worker_table
    return settings.dynamo_release_table
