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

from tpf.actors.watchers import Watchers
from tpf.clock import Clock
from tpf.lifecycle import RetryPolicy
from tpf.records import (
    DeadLetterEnvelope,
    ExecutionRecord,
    TransitionFailure,
    TransitionOutcome,
    TransitionResult,
)
from tpf.settings import Settings
from tpf.stores.base import StoreSet
from tpf.transports.base import TransitionWorker, WorkQueue

EXECUTION = "execution"  # actor kind of ExecutionActor


class WorkerRouter:
    """Finds the worker that hosts a pinned ``(pipelineId, contractVersion, releaseVersion)``."""

    def __init__(self) -> None:
        self._workers: dict[tuple[str, str, str], TransitionWorker] = {}

    def add(self, worker: TransitionWorker) -> None:
        self._workers[worker.identity] = worker

    def get(self, identity: tuple[str, str, str]) -> TransitionWorker | None:
        return self._workers.get(identity)

    def all(self) -> list[TransitionWorker]:
        return list(self._workers.values())


def no_worker_result(identity: tuple[str, str, str]) -> TransitionResult:
    pid, cv, rv = identity
    return TransitionResult(
        outcome=TransitionOutcome.FAILED,
        failure=TransitionFailure(
            failure_class="tpf.errors.Unavailable",
            message=(
                f"No transition worker hosts pipelineId={pid}, contractVersion={cv}, "
                f"releaseVersion={rv}"
            ),
            retryable=True,
            error_code="NO_TRANSITION_WORKER",
        ),
    )


@dataclass
class Engine:
    settings: Settings
    stores: StoreSet
    clock: Clock
    queue: WorkQueue
    router: WorkerRouter
    owner: str
    rand: Callable[[], float] = random.random
    counters: Counter[str] = field(default_factory=Counter)
    watchers: Watchers = field(default_factory=Watchers)
    # Set by the coordinator once the supervisors exist (they need the engine first).
    dead_letter_committed: Callable[[DeadLetterEnvelope], None] = lambda envelope: None
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        s = self.settings
        self.retry_policy = RetryPolicy(
            max_retries=s.max_retries,
            retry_delay_ms=s.retry_delay_ms,
            multiplier=s.retry_multiplier,
            jitter=s.retry_jitter,
        )
        # Bounds transitions running at once in this process (worker.max-in-flight).
        self.in_flight = asyncio.Semaphore(max(1, s.worker_max_in_flight))

    def committed(self, record: ExecutionRecord) -> None:
        self.watchers.notify(record)
