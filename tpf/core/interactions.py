"""Await interactions as pure functions (spec §4): derivation, completion, timeout.

An await step parks its execution on one interaction. Its identifiers are derived from the
execution, step and attempt (see :mod:`tpf.core.ids`), so re-running the same transition finds the
same interaction. Resolving an interaction (completion or timeout) and applying that resolution
to the execution are two writes; ``applied`` marks the second so the awaits supervisor can finish
the job after a crash between them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import msgspec

from tpf.core import ids
from tpf.core.records import AwaitInteraction, DispatchState, InteractionStatus

replace = msgspec.structs.replace


def idempotency_key(
    execution_id: str, step_id: str, key_fields: Sequence[str], request: Any
) -> str:
    """``{stepId}:{field}={value}:...`` from the await input, or ``{executionId}:{stepId}``."""
    if not key_fields:
        return f"{execution_id}:{step_id}"
    parts = [step_id]
    for name in key_fields:
        value = request.get(name) if isinstance(request, dict) else None
        parts.append(f"{name}={'<null>' if value is None else value}")
    return ":".join(parts)


def new_interaction(
    *,
    tenant_id: str,
    execution_id: str,
    step_id: str,
    step_index: int,
    attempt: int,
    output_type: str | None,
    request_payload: Any,
    key_fields: Sequence[str],
    timeout_ms: int,
    now_ms: int,
    assignee: str | None = None,
    group: str | None = None,
    transport_type: str = "interaction-api",
    dispatch_state: DispatchState = DispatchState.DISPATCHED,
    transport_metadata: Mapping[str, Any] | None = None,
    item_index: int | None = None,
) -> AwaitInteraction:
    """The interaction an await step parks on (one item of its await unit).

    ``dispatch_state`` is ``DISPATCHED`` when no channel has to publish the request (REST, the
    only channel today); a channel-backed await passes ``CREATED`` so its dispatcher finds it
    in the outbox (:meth:`tpf.stores.base.AwaitStore.find_undispatched`).
    """
    key = idempotency_key(execution_id, step_id, key_fields, request_payload)
    # An itemized await's interaction is one item's (spec §4.2): the key and ids name the item.
    basis = step_id
    if item_index is not None:
        key = f"{key}:item={item_index}"
        basis = f"{step_id}:item={item_index}"
    deadline = now_ms + timeout_ms
    return AwaitInteraction(
        tenant_id=tenant_id,
        execution_id=execution_id,
        step_id=step_id,
        step_index=step_index,
        output_type=output_type,
        interaction_id=ids.interaction_id(tenant_id, execution_id, basis, step_index, attempt),
        correlation_id=ids.correlation_id(tenant_id, execution_id, step_id, key, attempt),
        causation_id=f"{execution_id}:{step_index}",
        idempotency_key=key,
        unit_id=ids.unit_id(tenant_id, execution_id, step_id, step_index),
        status=InteractionStatus.DISPATCHED,
        version=0,
        request_payload=request_payload,
        item_index=item_index,
        assignee=assignee,
        group=group,
        transport_type=transport_type,
        transport_metadata={**(transport_metadata or {}), "adapter": transport_type}
        | ({"dispatchedAtEpochMs": now_ms} if dispatch_state is DispatchState.DISPATCHED else {}),
        deadline_epoch_ms=deadline,
        created_at_epoch_ms=now_ms,
        updated_at_epoch_ms=now_ms,
        # No TTL (the original sets deadline + 1 day): the execution may outlive that by far,
        # re-driven after the await timed out (it re-reads this request) or still running the
        # steps after it (they read its response), and an interaction of a live execution must
        # never expire. No store expires interactions and the interaction table has no native
        # TTL, so an interaction stays as long as the deployment keeps that table.
        ttl_epoch_s=0,
        dispatch_state=dispatch_state,
    )


def complete(
    interaction: AwaitInteraction, now_ms: int, response: Any, actor: str | None
) -> AwaitInteraction:
    return replace(
        interaction,
        status=InteractionStatus.COMPLETED,
        version=interaction.version + 1,
        response_payload=response,
        actor=actor,
        updated_at_epoch_ms=now_ms,
        completed_at_epoch_ms=now_ms,
        applied=False,
    )


def time_out(interaction: AwaitInteraction, now_ms: int) -> AwaitInteraction:
    return replace(
        interaction,
        status=InteractionStatus.TIMED_OUT,
        version=interaction.version + 1,
        updated_at_epoch_ms=now_ms,
        applied=False,
    )


def mark_applied(interaction: AwaitInteraction, now_ms: int) -> AwaitInteraction:
    return replace(
        interaction, version=interaction.version + 1, updated_at_epoch_ms=now_ms, applied=True
    )


def mark_dispatched(interaction: AwaitInteraction, now_ms: int) -> AwaitInteraction | None:
    """``interaction`` as published to its channel, or ``None`` if it already is (idempotent)."""
    if interaction.dispatch_state is DispatchState.DISPATCHED:
        return None
    return replace(
        interaction,
        dispatch_state=DispatchState.DISPATCHED,
        version=interaction.version + 1,
        updated_at_epoch_ms=now_ms,
        transport_metadata={**interaction.transport_metadata, "dispatchedAtEpochMs": now_ms},
    )


def into_outbox(interaction: AwaitInteraction, transport_type: str) -> AwaitInteraction:
    """A new interaction (not yet stored) routed to a channel that publishes it: ``CREATED``, so
    the await dispatcher finds it in the outbox, with that channel as its transport."""
    metadata = dict(interaction.transport_metadata)
    metadata.pop("dispatchedAtEpochMs", None)
    return replace(
        interaction,
        transport_type=transport_type,
        transport_metadata=metadata | {"adapter": transport_type},
        dispatch_state=DispatchState.CREATED,
    )


def is_overdue(interaction: AwaitInteraction, now_ms: int) -> bool:
    return interaction.pending and interaction.deadline_epoch_ms <= now_ms
