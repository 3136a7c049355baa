"""The coordinator's durable records and wire envelopes.

Every record is an immutable msgspec Struct whose JSON field names are the original TPF's
(camelCase: ``executionId``, ``nextDueEpochMs``...), so stores, transports and the REST edge
share one definition. State changes never mutate a record: they build a new one with
:func:`msgspec.structs.replace` and the store swaps it in with a version check.

Payloads inside records are plain JSON values (dicts, lists, strings, numbers); the
``{"payloadTypeId", "payloadEncoding", "payload"}`` envelope of the original exists only at the
edges (see :mod:`tpf.core.codec`).
"""

from __future__ import annotations

import enum
from typing import Any

import msgspec

from tpf.core.history import HistoryEntry
from tpf.core.items import ItemProgress
from tpf.core.record_base import Record as Record

# Release and worker records live in tpf.core.release_records; re-exported here for the many
# modules (and users) that import every record from this module.
from tpf.core.release_records import ArtifactDescriptor as ArtifactDescriptor
from tpf.core.release_records import ContractStep as ContractStep
from tpf.core.release_records import PipelineContract as PipelineContract
from tpf.core.release_records import ReleaseDescriptor as ReleaseDescriptor
from tpf.core.release_records import ReleaseRecord as ReleaseRecord
from tpf.core.release_records import ReleaseStatus as ReleaseStatus
from tpf.core.release_records import WorkerEvent as WorkerEvent
from tpf.core.release_records import WorkerEventType as WorkerEventType
from tpf.core.release_records import WorkerRecord as WorkerRecord
from tpf.core.release_records import WorkerState as WorkerState

TRANSITION_ENCODING = "application/tpf-transition+json"
ENVELOPE_ENCODING = "application/tpf-transition-envelope+json"
NEVER_DUE_EPOCH_MS = 9_223_372_036_854_775_807  # Java's Long.MAX_VALUE, as the original reports.


class ExecutionStatus(enum.StrEnum):
    QUEUED = "QUEUED"
    RUNNING = "RUNNING"
    WAITING_EXTERNAL = "WAITING_EXTERNAL"
    WAIT_RETRY = "WAIT_RETRY"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    DLQ = "DLQ"


TERMINAL_STATUSES = frozenset(
    {ExecutionStatus.SUCCEEDED, ExecutionStatus.FAILED, ExecutionStatus.DLQ}
)
# Statuses from which a lease can be claimed once the record is due.
CLAIMABLE_STATUSES = frozenset(
    {ExecutionStatus.QUEUED, ExecutionStatus.RUNNING, ExecutionStatus.WAIT_RETRY}
)


class InteractionStatus(enum.StrEnum):
    WAITING = "WAITING"
    DISPATCHING = "DISPATCHING"
    DISPATCHED = "DISPATCHED"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    TIMED_OUT = "TIMED_OUT"
    CANCELLED = "CANCELLED"
    EXPIRED = "EXPIRED"


PENDING_INTERACTION_STATUSES = frozenset(
    {InteractionStatus.WAITING, InteractionStatus.DISPATCHING, InteractionStatus.DISPATCHED}
)


class DispatchState(enum.StrEnum):
    """Whether an interaction's request has reached its channel (the dispatch outbox).

    ``CREATED``: stored, not yet published (a channel dispatcher finds it and publishes it);
    ``DISPATCHED``: published, or needing no publish (REST: the request is read from the API).
    """

    CREATED = "CREATED"
    DISPATCHED = "DISPATCHED"


class IdempotencyPolicy(enum.StrEnum):
    OPTIONAL_CLIENT_KEY = "OPTIONAL_CLIENT_KEY"
    CLIENT_KEY_REQUIRED = "CLIENT_KEY_REQUIRED"
    SERVER_KEY_ONLY = "SERVER_KEY_ONLY"


# --------------------------------------------------------------------------- payloads


class PayloadEnvelope(Record, frozen=True, kw_only=True):
    """The original's serialized payload: a type id, an encoding and the JSON *text*."""

    payload_type_id: str | None = None
    payload_encoding: str = TRANSITION_ENCODING
    payload: str = "null"


# --------------------------------------------------------------------------- executions


class DeadLetterEnvelope(Record, frozen=True, kw_only=True):
    """What a terminal failure publishes to the DLQ sink (spec §3.6 field names)."""

    tenant_id: str
    execution_id: str
    execution_key: str
    correlation_id: str
    transition_key: str
    resource_type: str = "tpf.orchestrator.execution"
    resource_name: str = "OrchestratorService/Run"
    transport: str = "LOCAL"
    platform: str = "COMPUTE"
    terminal_status: str = "FAILED"
    terminal_reason: str = "retry_exhausted"
    error_code: str | None = None
    error_message: str | None = None
    retryable: bool = True
    retries_observed: int = 0
    created_at_epoch_ms: int = 0
    # Ours: the failing step's traceback (bounded), for the log sink's line. The SQS sink leaves
    # it out, so the queue's messages keep the original's fields.
    error_detail: str | None = None


class RedriveEntry(Record, frozen=True, kw_only=True):
    """One operator re-drive, kept on the record (the original only logs it).

    ``reopened_interaction_id`` is set when the re-drive re-opened the execution's last await
    (``reopenAwait``): the interaction whose answer is set aside for a fresh one.
    """

    at_epoch_ms: int
    reason: str
    previous_status: str
    expected_version: int | None
    from_version: int
    reopened_interaction_id: str | None = None


class ExecutionRecord(Record, frozen=True, kw_only=True):
    """One submitted run of a pipeline (spec §3.1), plus our crash-safety fields.

    ``dead_letters`` is the durable "to publish" outbox: a terminal failure appends its envelope
    in the same write as the FAILED status, and the dead-letters supervisor removes an envelope
    only after the sink accepted it. It is a tuple so that a re-driven execution that fails again
    before the first envelope went out keeps both. ``await_interaction_id`` points at the
    interaction whose request (when re-running the await step) or response (when resuming after
    it) feeds the next transition.
    """

    tenant_id: str
    execution_id: str
    execution_key: str
    pipeline_id: str
    contract_version: str
    release_version: str
    status: ExecutionStatus
    result_shape: str = "SINGLE"
    version: int = 0
    current_step_index: int = 0
    attempt: int = 0
    lease_owner: str | None = None
    lease_expires_epoch_ms: int = 0
    next_due_epoch_ms: int = 0
    last_transition_key: str | None = None
    input_shape: str = "UNI"
    input_type_id: str | None = None
    input_payload: Any = None
    input_digest: str = ""
    await_unit_id: str | None = None
    await_interaction_id: str | None = None
    result_type_id: str | None = None
    result_payload: Any = None
    error_code: str | None = None
    error_message: str | None = None
    error_detail: str | None = None  # ours: the failing step's traceback, last 8 KiB
    created_at_epoch_ms: int = 0
    updated_at_epoch_ms: int = 0
    ttl_epoch_s: int = 0
    dead_letters: tuple[DeadLetterEnvelope, ...] = ()
    redrives: tuple[RedriveEntry, ...] = ()
    # Ours (issue 12): the id of the step at current_step_index (searchable), and the bounded
    # journal of committed changes (tpf.core.history), committed with the change it records.
    current_step_id: str | None = None
    history: tuple[HistoryEntry, ...] = ()
    history_dropped: int = 0
    # Ours (issue 13): earlier steps' outputs (plain JSON, by step name) that a later step
    # declaring ``ctx: StepContext`` reads in another transition; bounded by
    # ``pipeline.context.max-bytes``. Named ``*_payload`` so the DynamoDB store can chunk it
    # like the input and result (tpf.stores.dynamo.execution_items.split_payloads).
    context_payload: dict[str, Any] | None = None
    # Ours (issue 13): an expanded execution's item counts (tpf.core.items); ``None`` when its
    # pipeline has no stream or the expansion has not run yet.
    items: ItemProgress | None = None

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL_STATUSES


# --------------------------------------------------------------------------- awaits


class AwaitInteraction(Record, frozen=True, kw_only=True):
    """One externally visible request an execution is parked on (spec §4.3).

    ``applied`` is our addition: it turns true once the interaction's resolution (completion or
    timeout) has been applied to its execution, so a crash between the two writes is repaired by
    the awaits supervisor instead of leaving the execution parked forever. So is
    ``completed_at_epoch_ms``: when the completion was admitted (``updated_at`` moves on when it
    is applied), to tell a conflicting later completion who answered and when.
    """

    tenant_id: str
    execution_id: str
    step_id: str
    step_index: int
    output_type: str | None
    interaction_id: str
    correlation_id: str
    causation_id: str
    idempotency_key: str
    unit_id: str
    status: InteractionStatus
    version: int = 0
    request_payload: Any = None
    response_payload: Any = None
    item_index: int | None = None
    actor: str | None = None
    assignee: str | None = None
    group: str | None = None
    transport_type: str = "interaction-api"
    transport_metadata: dict[str, Any] = msgspec.field(default_factory=dict)
    deadline_epoch_ms: int = 0
    created_at_epoch_ms: int = 0
    updated_at_epoch_ms: int = 0
    ttl_epoch_s: int = 0
    applied: bool = False
    completed_at_epoch_ms: int = 0
    # Rows written before dispatch states existed were all REST interactions, dispatched at
    # creation: the default reads them back as what they are.
    dispatch_state: DispatchState = DispatchState.DISPATCHED

    @property
    def pending(self) -> bool:
        return self.status in PENDING_INTERACTION_STATUSES

    @property
    def undispatched(self) -> bool:
        """Pending and not yet published to its channel: in the dispatch outbox."""
        return self.pending and self.dispatch_state is DispatchState.CREATED


class HeldCompletion(Record, frozen=True, kw_only=True):
    """A channel completion that arrived before its interaction was stored, kept durably.

    Named by ``interaction_id`` or ``correlation_id`` (``handle_kind`` says which, ``handle``
    holds it); one hold per ``(tenant_id, handle_kind, handle)``. Admitted (and deleted) once the
    interaction appears; at ``expires_at_epoch_ms``, or if refused when it appears, the message
    (``body``) is parked on the dead-letter queue/topic of the channel that read it
    (``channel``, its key) and only then deleted.
    """

    tenant_id: str
    handle_kind: str  # "interaction" | "correlation"
    handle: str
    response: Any = None
    actor: str | None = None
    held_at_epoch_ms: int = 0
    expires_at_epoch_ms: int = 0
    channel: str | None = None
    body: str | None = None


# --------------------------------------------------------------------------- transitions


class TransitionCommand(Record, frozen=True, kw_only=True):
    """``TransitionCommandEnvelope`` (spec §7.1): one pinned transition for a worker."""

    tenant_id: str
    execution_id: str
    pipeline_id: str
    contract_version: str
    release_version: str
    current_step_index: int
    stop_before_step_index: int = -1
    attempt: int = 0
    result_shape: str = "SINGLE"
    execution_version: int = 0
    transition_key: str
    trace_id: str
    payload_type_id: str | None = None
    payload_encoding: str = TRANSITION_ENCODING
    payload: str = "null"
    # Ours (issue 13), only for a pipeline with a step that takes ``ctx: StepContext``: never
    # written when ``None`` (tpf.transports.workers.remote.envelopes), so the original's
    # workers see the envelope they know.
    context: StepContextData | None = None
    # Ours (issue 13): the stream item this per-item transition runs for (``None`` otherwise;
    # written on the wire only when set).
    item_index: int | None = None


class AwaitContextData(Record, frozen=True, kw_only=True):
    """The await a transition resumes after: what its step's ``ctx`` says about it."""

    step_index: int
    interaction_id: str
    request_payload: Any = None
    actor: str | None = None
    completed_at_epoch_ms: int = 0


class StepContextData(Record, frozen=True, kw_only=True):
    """What a transition's steps may read through ``ctx`` (plain JSON; the worker decodes it):
    the execution's input, earlier steps' stored outputs by step name, and the await this
    transition resumes after, if any."""

    input_type_id: str | None = None
    input_payload: Any = None
    outputs: dict[str, Any] = msgspec.field(default_factory=dict)
    resumed_await: AwaitContextData | None = None


class TransitionOutcome(enum.StrEnum):
    COMPLETED = "COMPLETED"
    WAITING_EXTERNAL = "WAITING_EXTERNAL"
    FAILED = "FAILED"


class AwaitSuspension(Record, frozen=True, kw_only=True):
    tenant_id: str
    execution_id: str
    unit_id: str
    step_index: int
    interactions: tuple[AwaitInteraction, ...]
    unit: dict[str, Any] | None = None


class TransitionFailure(Record, frozen=True, kw_only=True):
    """Why a transition failed. ``retryable``, ``error_code`` and ``error_detail`` are ours.

    ``error_detail`` is the traceback, captured where the step raised (the worker's process).
    """

    failure_class: str
    message: str
    retryable: bool = True
    error_code: str | None = None
    error_detail: str | None = None


class TransitionResult(Record, frozen=True, kw_only=True):
    """``TransitionResultEnvelope`` (spec §7.1)."""

    outcome: TransitionOutcome
    output_payloads: tuple[PayloadEnvelope, ...] = ()
    await_suspension: AwaitSuspension | None = None
    failure: TransitionFailure | None = None
    terminal_output_published: bool = False
    terminal_input_passthrough: bool = False
    # Ours (issue 13): outputs of this transition's steps that a later transition's
    # ``ctx`` reads (by step name), to store with the execution; only when the command
    # carried a context (so a coordinator that sent none never gets the field).
    context_outputs: dict[str, Any] | None = None


class WorkItem(Record, frozen=True, kw_only=True):
    """What the work queue carries: only "look at execution X now" (the store is the truth)."""

    tenant_id: str
    execution_id: str
