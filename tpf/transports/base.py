"""Transport Protocols: one per kind, one file per technology behind each.

- :class:`WorkQueue` carries :class:`~tpf.core.records.WorkItem` s ("look at execution X now or
  later"); losing one never loses an execution (the sweeper finds it in the store).
- :class:`DeadLetterSink` receives the envelope of every terminally failed execution.
- :class:`TransitionWorker` runs one pinned transition of pipeline code; its
  :class:`ContractValidator` checks what clients send for that code (input at submit, an
  await's response at completion) without the engine knowing where the code runs.

DLQ sinks and workers have a lifecycle (``start``/``aclose``): the coordinator starts them once
its loops run and closes them, in reverse order of opening, on ``close()``.
"""

from __future__ import annotations

from typing import Any, Protocol

from tpf.core.records import (
    AwaitInteraction,
    DeadLetterEnvelope,
    TransitionCommand,
    TransitionResult,
    WorkItem,
)
from tpf.transports.awaits.consume import Verdict
from tpf.transports.awaits.envelopes import DispatchEnvelope


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

    async def start(self) -> None:
        """Called once the coordinator runs (connect, warm up); before the first publish."""
        ...

    async def aclose(self) -> None:
        """Release what the sink holds; no publish follows."""
        ...


class AwaitChannel(Protocol):
    """Publishes await requests to, and consumes completions from, an outside channel.

    ``name`` is the transport (``interaction-api`` for REST, ``sqs``, ``kafka``); ``publishes``
    says whether its interactions go through the dispatch outbox (REST's do not: the request is
    read from the API). The await dispatcher asks for the channel's ``transportMetadata`` of an
    interaction, builds the dispatch envelope and hands it to :meth:`publish`. ``start`` begins
    consuming completions (handing each to the sink the channel was built with).
    """

    name: str
    key: str  # tpf.config.await_transport.channel_key of the spec it serves
    publishes: bool

    def transport_metadata(self, interaction: AwaitInteraction, now_ms: int) -> dict[str, Any]:
        """The envelope's ``transportMetadata`` for ``interaction``, dispatched at ``now_ms``."""
        ...

    async def publish(self, interaction: AwaitInteraction, envelope: DispatchEnvelope) -> None:
        """Deliver the request durably or raise (``RetryableError``); the dispatcher marks the
        interaction dispatched only after this returns, and retries otherwise."""
        ...

    async def dead_letter(self, verdict: Verdict, body: bytes) -> bool:
        """Park a poison completion this channel read (``body``, as received) on its
        dead-letter queue/topic with ``verdict.reason`` and count it; ``False`` if that
        failed (the caller keeps the message and tries again)."""
        ...

    async def start(self) -> None: ...

    async def aclose(self) -> None: ...


class WorkerIdentity(Protocol):
    @property
    def pipeline_id(self) -> str: ...

    @property
    def contract_version(self) -> str: ...

    @property
    def release_version(self) -> str: ...


class ContractValidator(Protocol):
    """Checks client input against one pinned identity's contract and authored types.

    A worker supplies it: the local worker from the authored types of the code it runs, a
    remote one from the release's contract (which carries type ids only, so it checks those
    and passes values on). The engine asks the worker directory for it, never a pipeline.
    """

    def decode_input(self, value: Any) -> None:
        """Raise :class:`~tpf.errors.ValidationError` if ``value`` is not a valid first input."""
        ...

    def input_type_id(self, submitted: str | None) -> str | None:
        """The input type id to record for a submit that stated ``submitted`` (a generic id,
        such as ``java.util.Map``, becomes the first step's declared type)."""
        ...

    def covers(self, interaction: AwaitInteraction) -> bool:
        """Whether ``interaction`` belongs to an await step of this identity's code."""
        ...

    def validate_response(self, interaction: AwaitInteraction, response: Any) -> Any:
        """``response`` if it fits the await's output type, else ``ValidationError``."""
        ...


class TransitionWorker(Protocol):
    """Runs a pipeline from the command's step to the end or the next await."""

    protocol: str  # "local", "rest", "grpc", "sqs"

    @property
    def code_digest(self) -> str | None:
        """The digest of the code it runs, when it knows it (admission checks it against a
        release that states the code it was built from)."""
        ...

    @property
    def validator(self) -> ContractValidator:
        """How submits and completions for this worker's identity are checked."""
        ...

    @property
    def identity(self) -> tuple[str, str, str]:
        """``(pipelineId, contractVersion, releaseVersion)`` of the code this worker hosts."""
        ...

    async def execute(self, command: TransitionCommand) -> TransitionResult:
        """Run the transition. Failures are returned as ``FAILED`` results, not raised; an
        exception means the transport itself failed (treated as retryable)."""
        ...

    async def cancel(self, tenant_id: str, execution_id: str) -> None:
        """Stop the execution's running transition: its lease was lost, another coordinator
        runs it now (a no-op if none runs here)."""
        ...

    async def start(self) -> None: ...

    async def aclose(self) -> None:
        """Release the worker's connections and stop what it still runs."""
        ...
