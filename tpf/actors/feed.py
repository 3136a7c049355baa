"""The change feed: this process's committed changes, fanned out to live subscribers.

The console's live view (``GET {cp}/events``, server-sent events) subscribes here. Every
execution commit the engine makes becomes an ``execution`` event, and a park (a commit into
``WAITING_EXTERNAL``) an ``interaction`` event, as does an interaction that is completed, times
out or is cancelled with its execution, for the execution's tenant. Like the watchers it is
process-local: it hears this coordinator's commits only.

A subscriber that falls behind must never slow a commit down, so each has a bounded queue and
:meth:`ChangeFeed.publish` never waits: an event that does not fit is dropped and the
subscription is marked ``overflowed``, which the SSE route turns into a ``resync`` event (the
console then re-reads what it shows) rather than silently missing changes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from tpf.core.records import AwaitInteraction, ExecutionRecord, ExecutionStatus

EXECUTION_EVENT = "execution"
INTERACTION_EVENT = "interaction"
# Events one subscriber may have waiting; a browser reading a stream keeps far below this.
SUBSCRIBER_CAPACITY = 1000


@dataclass(frozen=True)
class FeedEvent:
    """One change: the SSE event name and its JSON-ready body (camelCase wire names)."""

    kind: str
    data: dict[str, Any]


@dataclass(eq=False)
class Subscription:
    """One subscriber's queue of events of one tenant."""

    tenant_id: str
    queue: asyncio.Queue[FeedEvent] = field(
        default_factory=lambda: asyncio.Queue(SUBSCRIBER_CAPACITY)
    )
    # Set when an event was dropped because the queue was full; cleared by whoever reports it.
    overflowed: bool = False

    def offer(self, event: FeedEvent) -> None:
        try:
            self.queue.put_nowait(event)
        except asyncio.QueueFull:
            self.overflowed = True


class ChangeFeed:
    """Fans committed changes out to the subscriptions of their tenant."""

    def __init__(self) -> None:
        self._subscribers: dict[str, set[Subscription]] = {}

    @contextmanager
    def subscribe(self, tenant_id: str) -> Iterator[Subscription]:
        subscription = Subscription(tenant_id)
        self._subscribers.setdefault(tenant_id, set()).add(subscription)
        try:
            yield subscription
        finally:
            subscribers = self._subscribers.get(tenant_id)
            if subscribers is not None:
                subscribers.discard(subscription)
                if not subscribers:
                    del self._subscribers[tenant_id]

    def subscribers(self, tenant_id: str) -> int:
        return len(self._subscribers.get(tenant_id, ()))

    def publish(self, tenant_id: str, event: FeedEvent) -> None:
        for subscription in self._subscribers.get(tenant_id, ()):
            subscription.offer(event)

    def execution_committed(self, record: ExecutionRecord) -> None:
        if record.tenant_id not in self._subscribers:
            return  # nobody listens: build nothing (this runs on every commit)
        self.publish(record.tenant_id, execution_event(record))
        if record.status is ExecutionStatus.WAITING_EXTERNAL and record.await_interaction_id:
            self.publish(
                record.tenant_id,
                FeedEvent(
                    INTERACTION_EVENT,
                    {
                        "interactionId": record.await_interaction_id,
                        "executionId": record.execution_id,
                        "stepIndex": record.current_step_index,
                        "status": "PENDING",
                    },
                ),
            )

    def interaction_changed(self, interaction: AwaitInteraction) -> None:
        if interaction.tenant_id not in self._subscribers:
            return
        self.publish(
            interaction.tenant_id,
            FeedEvent(
                INTERACTION_EVENT,
                {
                    "interactionId": interaction.interaction_id,
                    "executionId": interaction.execution_id,
                    "stepIndex": interaction.step_index,
                    "status": interaction.status.value,
                },
            ),
        )


def execution_event(record: ExecutionRecord) -> FeedEvent:
    return FeedEvent(
        EXECUTION_EVENT,
        {
            "executionId": record.execution_id,
            "status": record.status.value,
            "stepIndex": record.current_step_index,
            "version": record.version,
            "updatedAtEpochMs": record.updated_at_epoch_ms,
        },
    )
