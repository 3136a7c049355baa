"""Transport Protocols: one per kind, one file per technology behind each.

- :class:`WorkQueue` carries :class:`~tpf.core.records.WorkItem` s ("look at execution X now or
  later"); losing one never loses an execution (the sweeper finds it in the store).
- :class:`DeadLetterSink` receives the envelope of every terminally failed execution.
- :class:`TransitionWorker` runs one pinned transition of pipeline code.
"""

from __future__ import annotations

from typing import Protocol

from tpf.core.records import DeadLetterEnvelope, TransitionCommand, TransitionResult, WorkItem


class WorkQueue(Protocol):
    async def enqueue(self, item: WorkItem, delay_ms: int = 0) -> None:
        """Make ``item`` receivable once ``delay_ms`` has passed."""
        ...

    async def receive(self, max_items: int) -> list[WorkItem]:
        """Up to ``max_items`` items that are due now; never blocks (empty list if none)."""
        ...

    async def wait_ready(self, timeout_s: float) -> None:
        """Return when an item may be due, or after ``timeout_s`` (for the consumer loop)."""
        ...

    def depth(self) -> int:
        """Items held, due or not (a metric; approximate for remote queues)."""
        ...

    async def close(self) -> None: ...


class DeadLetterSink(Protocol):
    async def publish(self, envelope: DeadLetterEnvelope) -> None:
        """Deliver the envelope durably or raise; the caller retries until it returns."""
        ...


class WorkerIdentity(Protocol):
    @property
    def pipeline_id(self) -> str: ...

    @property
    def contract_version(self) -> str: ...

    @property
    def release_version(self) -> str: ...


class TransitionWorker(Protocol):
    """Runs a pipeline from the command's step to the end or the next await."""

    protocol: str  # "local", "rest", "grpc", "sqs"

    @property
    def identity(self) -> tuple[str, str, str]:
        """``(pipelineId, contractVersion, releaseVersion)`` of the code this worker hosts."""
        ...

    async def execute(self, command: TransitionCommand) -> TransitionResult:
        """Run the transition. Failures are returned as ``FAILED`` results, not raised; an
        exception means the transport itself failed (treated as retryable)."""
        ...
