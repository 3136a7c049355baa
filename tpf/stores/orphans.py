"""Await interactions whose execution no longer exists: refused, and kept out of listings.

A live execution never expires (retention counts from its terminal state, see
:func:`tpf.core.lifecycle.retain`), but an interaction can still outlive its execution: the
execution ended and its retention period passed (interactions themselves are never expired),
DynamoDB deleted a record an older version wrote with a submit-time TTL, or a transition whose
lease was taken over left a pending interaction behind a run that then ended another way.
Completing such an interaction must not answer success for an execution that will never
resume, and pending listings must not offer it to an approver.

An orphan found either way is *retired*: closed as ``EXPIRED`` (and marked applied, as there is
nothing to apply it to), so it leaves the pending indexes and later queries skip it cheaply.

The execution is read only when it can be gone (:func:`could_be_gone`): an interaction is
created by a transition of its live execution, and this version expires an execution no sooner
than ``execution-ttl-days`` after it ends, so before ``created_at + TTL`` it still exists. That
keeps a prompt completion at its usual requests and a pending listing free of extra reads.
"""

from __future__ import annotations

import asyncio
import contextlib

import msgspec

from tpf.core.errors import Conflict, NotFound
from tpf.core.records import AwaitInteraction, InteractionStatus
from tpf.stores.base import StoreSet

EXECUTION_NOT_FOUND = "EXECUTION_NOT_FOUND"
# Listing rounds: each retires the orphans it met, so the next query sees the ones behind them.
_LISTING_ROUNDS = 4


def could_be_gone(interaction: AwaitInteraction, now_ms: int, retention_ms: int) -> bool:
    """Whether ``interaction``'s execution may no longer exist at ``now_ms``.

    Only once ``retention_ms`` has passed since the interaction was created, or always for one
    an older version wrote (``ttl_epoch_s`` set): its execution may carry a submit-time TTL that
    DynamoDB acts on whatever the execution's status.
    """
    kept_until_ms = interaction.created_at_epoch_ms + max(1, retention_ms)
    return interaction.ttl_epoch_s != 0 or now_ms >= kept_until_ms


def retired(interaction: AwaitInteraction, now_ms: int) -> AwaitInteraction:
    """``interaction`` closed as ``EXPIRED``: its execution is gone, nothing is left to apply."""
    return msgspec.structs.replace(
        interaction,
        status=InteractionStatus.EXPIRED,
        version=interaction.version + 1,
        updated_at_epoch_ms=now_ms,
        applied=True,
    )


def execution_gone(interaction: AwaitInteraction) -> NotFound:
    return NotFound(
        f"Execution not found: {interaction.execution_id} (of await interaction "
        f"{interaction.interaction_id}); it ended and its retention period "
        "(execution-ttl-days) passed, or it was deleted",
        code=EXECUTION_NOT_FOUND,
    )


async def _retire(stores: StoreSet, interaction: AwaitInteraction, now_ms: int) -> None:
    if not interaction.pending:
        return
    # Best effort: a lost race means someone else resolved or retired it.
    with contextlib.suppress(Conflict):
        await stores.awaits.compare_and_set(retired(interaction, now_ms), interaction.version)


async def require_execution(
    stores: StoreSet, interaction: AwaitInteraction, now_ms: int, retention_ms: int
) -> None:
    """Raise :class:`NotFound` (``EXECUTION_NOT_FOUND``) unless the interaction's execution
    exists; an orphan is retired first."""
    if not could_be_gone(interaction, now_ms, retention_ms):
        return
    record = await stores.executions.get(interaction.tenant_id, interaction.execution_id, now_ms)
    if record is None:
        await _retire(stores, interaction, now_ms)
        raise execution_gone(interaction)


async def with_execution(
    stores: StoreSet, interactions: list[AwaitInteraction], now_ms: int, retention_ms: int
) -> list[AwaitInteraction]:
    """The interactions whose execution exists, in order; the others are retired."""
    doubtful = [i for i in interactions if could_be_gone(i, now_ms, retention_ms)]
    records = await asyncio.gather(
        *(stores.executions.get(i.tenant_id, i.execution_id, now_ms) for i in doubtful)
    )
    gone = {i.interaction_id for i, record in zip(doubtful, records, strict=True) if record is None}
    kept: list[AwaitInteraction] = []
    for interaction in interactions:
        if interaction.interaction_id in gone:
            await _retire(stores, interaction, now_ms)
        else:
            kept.append(interaction)
    return kept


async def pending_with_execution(
    stores: StoreSet,
    tenant_id: str,
    *,
    assignee: str | None,
    group: str | None,
    step_id: str | None,
    limit: int,
    now_ms: int,
    retention_ms: int,
) -> list[AwaitInteraction]:
    """``AwaitStore.query_pending`` without orphans (each one met is retired)."""
    kept: list[AwaitInteraction] = []
    for _ in range(_LISTING_ROUNDS):
        found = await stores.awaits.query_pending(
            tenant_id, assignee=assignee, group=group, step_id=step_id, limit=limit
        )
        kept = await with_execution(stores, found, now_ms, retention_ms)
        if len(kept) == len(found):
            break
    return kept
