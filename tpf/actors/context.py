"""What every execution actor and supervisor shares: stores, clock, workers, counters, watchers.

One :class:`Engine` per coordinator process. It holds no execution state of its own (the store
is the truth); it carries the collaborators and two process-local conveniences: counters for
metrics, and watchers (:mod:`tpf.actors.watchers`) that let callers wait for an execution to
reach a status without polling.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tpf.actors.feed import ChangeFeed
from tpf.actors.joint_commits import RecentInteractions
from tpf.actors.journal import StepIds
from tpf.actors.metrics import EngineMetrics
from tpf.actors.stream_sessions import StreamSessions
from tpf.actors.watchers import Watchers
from tpf.config.settings import Settings
from tpf.core.clock import Clock
from tpf.core.lifecycle import RetryPolicy
from tpf.core.records import (
    AwaitInteraction,
    DeadLetterEnvelope,
    ExecutionRecord,
)
from tpf.stores.base import StoreSet
from tpf.stores.budget import AdmissionBudget
from tpf.transports.awaits.metrics import AwaitMetrics
from tpf.transports.base import WorkQueue
from tpf.transports.workers.directory import WorkerDirectory

EXECUTION = "execution"  # actor kind of ExecutionActor


_RESUMING_MAX = 4096  # executions noted in Engine.resuming_here


@dataclass
class Engine:
    settings: Settings
    stores: StoreSet
    clock: Clock
    queue: WorkQueue
    workers: WorkerDirectory  # resolves an execution's pinned identity to its worker
    owner: str
    rand: Callable[[], float] = random.random
    counters: Counter[str] = field(default_factory=Counter)
    watchers: Watchers = field(default_factory=Watchers)
    # The console's live view (GET {cp}/events) listens here.
    feed: ChangeFeed = field(default_factory=ChangeFeed)
    # Set by the coordinator once the supervisors exist (they need the engine first).
    dead_letter_committed: Callable[[DeadLetterEnvelope], None] = lambda envelope: None
    # Set by the coordinator when an await channel publishes: what a parking execution's new
    # interaction becomes before it is stored (its channel, and CREATED when that channel
    # publishes: see tpf.core.interactions.into_outbox), and who is told once it is stored (the
    # await dispatcher). The defaults keep every interaction REST's, dispatched at creation.
    route_interaction: Callable[[AwaitInteraction], AwaitInteraction] = lambda interaction: (
        interaction
    )
    interaction_stored: Callable[[AwaitInteraction], None] = lambda interaction: None
    # Interactions a joint park just created, for their completion (tpf.actors.joint_commits).
    recent_interactions: RecentInteractions = field(default_factory=RecentInteractions)
    await_metrics: AwaitMetrics = field(default_factory=AwaitMetrics)
    metrics: EngineMetrics = field(default_factory=EngineMetrics)  # /q/metrics, spec §10 names
    extra: dict[str, Any] = field(default_factory=dict)
    # The step ids of each pinned release, for the history entries and current_step_id.
    step_ids: StepIds = field(default_factory=StepIds)
    # Streams (issue 13): the item runs of this process.
    streams: StreamSessions = field(default_factory=StreamSessions)
    # Executions whose resolution this process just handed to their actor, until its next
    # commit: a long poll on shared state then waits for that commit to wake it instead of
    # re-reading the store at 0.1 s (a hint: the re-read still comes, at 1 s). Bounded.
    resuming_here: dict[tuple[str, str], None] = field(default_factory=dict)

    def __post_init__(self) -> None:
        s = self.settings
        self.retry_policy = RetryPolicy(
            max_retries=s.retries.max_retries,
            retry_delay_ms=s.retries.delay_ms,
            multiplier=s.retries.multiplier,
            jitter=s.retries.jitter,
        )
        # Bounds transitions running at once in this process (worker.max-in-flight).
        self.in_flight = asyncio.Semaphore(max(1, s.workers.max_in_flight))

    @property
    def budget(self) -> AdmissionBudget | None:
        """The admission budget itemized awaits take slots of (spec §4.9; ``None``: only each
        execution's own window bounds them)."""
        return self.stores.budget

    def item_answered(self, interaction: AwaitInteraction) -> bool:
        """Whether ``interaction`` is a stream item's (its run applies it: handed over when it
        runs here, found by its rescan otherwise); ``False`` for a scalar await's, which its
        execution actor applies."""
        if interaction.item_index is None:
            return False
        self.streams.signal(interaction)
        return True

    def resuming(self, tenant_id: str, execution_id: str) -> None:
        """Note that this process's actor is about to resume the execution (see
        ``resuming_here``)."""
        self.resuming_here[(tenant_id, execution_id)] = None
        if len(self.resuming_here) > _RESUMING_MAX:  # an actor that never committed
            del self.resuming_here[next(iter(self.resuming_here))]

    def committed(self, record: ExecutionRecord) -> None:
        self.resuming_here.pop((record.tenant_id, record.execution_id), None)
        self.watchers.notify(record)
        self.feed.execution_committed(record)
