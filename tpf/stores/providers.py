"""The store provider tables: execution state, worker lifecycle, release registry, artifacts,
await admission budget.

One SQLite database (one file, one connection thread) is shared by every ``sqlite`` provider so
their writes share group commits, and one DynamoDB client by every ``dynamo`` one; each is
opened by the first provider that needs it and closed with the stack. The AWS-backed stores
(and so botocore) are imported only when chosen.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tpf.config.providers import OpenContext, Provider, ProviderTable
from tpf.stores.base import (
    ArtifactStore,
    AwaitCommits,
    AwaitStore,
    ExecutionStore,
    HeldCompletionStore,
    ItemStore,
    ReleaseStore,
    WorkerStore,
)

if TYPE_CHECKING:
    from tpf.aws.clients import AwsClients
    from tpf.config.settings import Settings
    from tpf.stores.budget import AdmissionBudget
    from tpf.stores.sqlite import SqliteDatabase

_P = "pipeline.orchestrator."


@dataclass(frozen=True)
class StateStores:
    """What a state provider opens: the execution, await and held-completion stores, which share
    a backend."""

    executions: ExecutionStore
    awaits: AwaitStore
    held: HeldCompletionStore
    items: ItemStore
    await_commits: AwaitCommits | None = None  # where the backend has them


async def sqlite_db(ctx: OpenContext) -> SqliteDatabase:
    """The one SQLite database of this process's ``sqlite`` providers."""

    async def open_() -> SqliteDatabase:
        from tpf.stores.sqlite import SqliteDatabase

        s = ctx.settings
        db = await SqliteDatabase.open(s.resolved_sqlite_path, synchronous=s.sqlite.synchronous)
        ctx.stack.push_async_callback(db.close)
        ctx.health.append(db.health)
        return db

    return await ctx.shared("sqlite", open_)


async def dynamo_client(ctx: OpenContext) -> Any:
    """The shared DynamoDB client (strict startup has checked its tables and indexes)."""

    async def open_() -> Any:
        from tpf.stores.dynamo.client import health_of

        client = await ctx.require_aws().client("dynamodb")  # closed with the AWS clients
        ctx.health.append(health_of(client, probe_table=_probe_table(ctx.settings)))
        return client

    return await ctx.shared("dynamodb", open_)


async def _missing_dynamo(settings: Settings, aws: AwsClients) -> list[str]:
    from tpf.stores.dynamo import missing_resources

    return await missing_resources(await aws.client("dynamodb"), settings)


def _probe_table(settings: Settings) -> str:
    """A table the ``dynamo`` providers use, for the readiness probe to describe."""
    if settings.state.provider == "dynamo":
        return settings.dynamo.execution_table
    if settings.workers.lifecycle_provider == "dynamo":
        return settings.dynamo.worker_table
    if settings.releases.registry_provider != "dynamo" and settings.await_admission.on_dynamo:
        return settings.dynamo.await_admission_table
    return settings.dynamo.release_table


async def _memory_state(ctx: OpenContext) -> StateStores:
    from tpf.stores.memory import (
        MemoryAwaitStore,
        MemoryExecutionStore,
        MemoryHeldCompletionStore,
        MemoryItemStore,
    )

    return StateStores(
        MemoryExecutionStore(),
        MemoryAwaitStore(),
        MemoryHeldCompletionStore(),
        MemoryItemStore(),
    )


async def _sqlite_state(ctx: OpenContext) -> StateStores:
    from tpf.stores.sqlite import (
        SqliteAwaitStore,
        SqliteExecutionStore,
        SqliteHeldCompletionStore,
        SqliteItemStore,
    )
    from tpf.stores.sqlite.await_commits import SqliteAwaitCommits

    db = await sqlite_db(ctx)
    return StateStores(
        SqliteExecutionStore(db),
        SqliteAwaitStore(db),
        SqliteHeldCompletionStore(db),
        SqliteItemStore(db),
        SqliteAwaitCommits(db),
    )


async def _dynamo_state(ctx: OpenContext) -> StateStores:
    from tpf.stores.dynamo import DynamoAwaitStore, DynamoExecutionStore
    from tpf.stores.dynamo.await_commits import DynamoAwaitCommits
    from tpf.stores.dynamo.client import Dynamo
    from tpf.stores.dynamo.held import DynamoHeldCompletionStore
    from tpf.stores.dynamo.items import DynamoItemStore

    client, s = await dynamo_client(ctx), ctx.settings
    executions, awaits = DynamoExecutionStore(client, s), DynamoAwaitStore(client, s)
    items = DynamoItemStore(client, s)
    return StateStores(
        executions,
        awaits,
        DynamoHeldCompletionStore(client, s),
        items,
        DynamoAwaitCommits(Dynamo(client), executions, awaits, items),
    )


STATE: ProviderTable[StateStores] = ProviderTable(
    "state store",
    _P + "state-provider",
    "state.provider",
    [
        Provider("memory", _memory_state),
        Provider("sqlite", _sqlite_state),
        Provider("dynamo", _dynamo_state, aws=("dynamodb",), check=_missing_dynamo),
    ],
)


async def _memory_workers(ctx: OpenContext) -> WorkerStore:
    from tpf.stores.memory import MemoryWorkerStore

    return MemoryWorkerStore()


async def _sqlite_workers(ctx: OpenContext) -> WorkerStore:
    from tpf.stores.sqlite import SqliteWorkerStore

    return SqliteWorkerStore(await sqlite_db(ctx))


async def _dynamo_workers(ctx: OpenContext) -> WorkerStore:
    from tpf.stores.dynamo import DynamoWorkerStore

    return DynamoWorkerStore(await dynamo_client(ctx), ctx.settings)


WORKER_LIFECYCLE: ProviderTable[WorkerStore] = ProviderTable(
    "worker lifecycle store",
    _P + "worker.lifecycle.provider",
    "workers.lifecycle_provider",
    [
        Provider("memory", _memory_workers),
        Provider("sqlite", _sqlite_workers),
        Provider("dynamo", _dynamo_workers, aws=("dynamodb",), check=_missing_dynamo),
    ],
)


async def _memory_releases(ctx: OpenContext) -> ReleaseStore:
    from tpf.stores.memory import MemoryReleaseStore

    return MemoryReleaseStore()


async def _file_releases(ctx: OpenContext) -> ReleaseStore:
    from tpf.stores.releases.file import FileReleaseStore

    return await FileReleaseStore.open(ctx.settings.resolved_releases_root)


async def _dynamo_releases(ctx: OpenContext) -> ReleaseStore:
    from tpf.stores.dynamo import DynamoReleaseStore

    return DynamoReleaseStore(await dynamo_client(ctx), ctx.settings)


RELEASE_REGISTRY: ProviderTable[ReleaseStore] = ProviderTable(
    "release registry",
    _P + "releases.registry.provider",
    "releases.registry_provider",
    [
        Provider("memory", _memory_releases),
        Provider("file", _file_releases),
        Provider("dynamo", _dynamo_releases, aws=("dynamodb",), check=_missing_dynamo),
    ],
)


async def _local_artifacts(ctx: OpenContext) -> ArtifactStore:
    from tpf.stores.artifacts import LocalArtifactStore

    return LocalArtifactStore(ctx.settings.resolved_releases_root)


async def _s3_artifacts(ctx: OpenContext) -> ArtifactStore:
    from tpf.stores.artifacts.s3 import S3ArtifactStore

    return S3ArtifactStore(ctx.require_aws(), ctx.settings)


ARTIFACT_STORAGE: ProviderTable[ArtifactStore] = ProviderTable(
    "artifact store",
    _P + "releases.storage.provider",
    "releases.storage_provider",
    [
        Provider("local", _local_artifacts),
        Provider(
            "s3",
            _s3_artifacts,
            requires=(("s3.bucket", "releases.storage.s3.bucket"),),
            aws=("s3",),
        ),
    ],
)


async def _memory_budget(ctx: OpenContext) -> AdmissionBudget:
    from tpf.stores.budget.memory import MemoryAdmissionBudget

    return MemoryAdmissionBudget()


async def _dynamo_budget(ctx: OpenContext) -> AdmissionBudget:
    from tpf.stores.budget.dynamo import DynamoAdmissionBudget

    client = await dynamo_client(ctx)
    return DynamoAdmissionBudget(client, ctx.settings.dynamo.await_admission_table)


# Opened through tpf.stores.budget.open_budget, which answers enabled=false itself. (A disabled
# budget left on ``dynamo`` still counts as using DynamoDB here; its table is not required.)
AWAIT_ADMISSION: ProviderTable[AdmissionBudget] = ProviderTable(
    "await admission store",
    "pipeline.await-admission.store",
    "await_admission.store",
    [
        Provider("memory", _memory_budget),
        Provider("dynamo", _dynamo_budget, aws=("dynamodb",), check=_missing_dynamo),
    ],
)

STORE_TABLES: tuple[ProviderTable[Any], ...] = (
    STATE,
    WORKER_LIFECYCLE,
    RELEASE_REGISTRY,
    ARTIFACT_STORAGE,
    AWAIT_ADMISSION,
)
