"""Build the :class:`StoreSet` a coordinator runs on from its :class:`Settings`.

Each store is chosen from its provider table (:mod:`tpf.stores.providers`): a provider this
build does not implement fails startup with a :class:`ConfigError` naming the setting, before
anything is opened, instead of failing on first use.

The embedded providers' directory is locked for as long as the stores are open
(:mod:`tpf.stores.state_lock`); a second process on it fails to open them with
:class:`~tpf.stores.state_lock.StateDirInUse`.
"""

from __future__ import annotations

from tpf.aws.clients import AwsClients
from tpf.config.providers import ClosingStack, OpenContext, uses_dynamo
from tpf.config.settings import Settings
from tpf.core.clock import SystemClock
from tpf.stores.base import StoreSet
from tpf.stores.budget import open_budget
from tpf.stores.providers import ARTIFACT_STORAGE, RELEASE_REGISTRY, STATE, WORKER_LIFECYCLE
from tpf.stores.sqlite import SqliteExecutionStore
from tpf.stores.state_lock import acquire_all


async def check_dynamo(aws: AwsClients, settings: Settings) -> list[str]:
    """Every DynamoDB table and index the configured ``dynamo`` providers need but lack."""
    if not uses_dynamo(settings):
        return []
    from tpf.stores.dynamo import missing_resources

    return await missing_resources(await aws.client("dynamodb"), settings)


async def open_stores(
    settings: Settings, aws: AwsClients | None = None, *, ctx: OpenContext | None = None
) -> StoreSet:
    """Open every store named by ``settings``; close them with :meth:`StoreSet.close`.

    ``aws`` is the coordinator's shared AWS clients, needed by the ``dynamo`` and ``s3``
    providers (the caller closes it). The embedded providers' directory stays locked until
    the stores close; with SQLite state, the lock lets the coordinator reclaim the leases of
    a dead predecessor at once (:attr:`StoreSet.expire_leases`).

    With ``ctx`` (the coordinator's composition root) every close goes onto its stack, so the
    stores close in reverse order of opening along with everything else it opened; the
    returned set then has nothing of its own to close.
    """
    for table in (STATE, WORKER_LIFECYCLE, RELEASE_REGISTRY, ARTIFACT_STORAGE):
        table.chosen(settings)  # refuse an unbuilt or incomplete provider before any lock
    own = ctx is None
    stack = ClosingStack() if ctx is None else ctx.stack
    if ctx is None:
        ctx = OpenContext(settings, SystemClock(), aws, stack)
    try:
        # Taken before any local file is opened, released after every store closed.
        locks = acquire_all(settings)
        for lock in locks:
            stack.callback(lock.release)
        state = await STATE.open(ctx)
        workers = await WORKER_LIFECYCLE.open(ctx)
        releases = await RELEASE_REGISTRY.open(ctx)
        artifacts = await ARTIFACT_STORAGE.open(ctx)
        budget = await open_budget(ctx)
    except BaseException:
        if own:
            await stack.aclose()
        raise
    stores = StoreSet(
        executions=state.executions,
        awaits=state.awaits,
        held=state.held,
        items=state.items,
        await_commits=state.await_commits,
        releases=releases,
        workers=workers,
        artifacts=artifacts,
        closers=[stack.aclose] if own and stack.pushed else [],
        health=ctx.health,
        budget=budget,
    )
    if locks and isinstance(stores.executions, SqliteExecutionStore):
        stores.expire_leases = stores.executions.expire_leases
    return stores
