"""The execution state machine as pure functions (spec §3), tested without I/O.

Each function takes the current record and returns the next one with ``version + 1``; the
caller persists it with the store's compare-and-set on the old version, which is what fences a
stale lease holder or a racing coordinator. Nothing here reads a clock or a store: time comes in
as ``now_ms`` and randomness (backoff jitter) as a number in ``[0, 1)``.

State diagram (spec §3.10), with our additions marked +::

    submit -> QUEUED -claim-> RUNNING -COMPLETED-> SUCCEEDED
                               |-WAITING_EXTERNAL-> WAITING_EXTERNAL -completion-> QUEUED(step+1)
                               |                                     -deadline-> FAILED + DLQ(+)
                               |-retryable failure, budget left-> WAIT_RETRY -due-> RUNNING
                               |-otherwise-> FAILED + DLQ
                               `-lease expired-> claimable again (takeover)
    FAILED/DLQ -redrive (allowFailed for FAILED)-> QUEUED(attempt+1, same step)
    FAILED -redrive reopenAwait(+)-> QUEUED(attempt+1, its last await step) -> WAITING_EXTERNAL
                                     on a fresh interaction
    (the operator's re-drives are decided in :mod:`tpf.core.redrives`)


Retention (``ttl_epoch_s``) counts from the terminal state: every transition to a live status
clears the TTL (so a re-drive makes a retained execution permanent again, and a record written
by older code with a submit-time TTL loses it on its next change), and :func:`retain` stamps
``terminal time + execution-ttl-days`` on the commit that makes an execution terminal.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgspec

from tpf.core.errors import Conflict
from tpf.core.ids import transition_key
from tpf.core.items import ItemProgress
from tpf.core.records import (
    CLAIMABLE_STATUSES,
    NEVER_DUE_EPOCH_MS,
    AwaitInteraction,
    DeadLetterEnvelope,
    ExecutionRecord,
    ExecutionStatus,
    InteractionStatus,
)

replace = msgspec.structs.replace

MAX_BACKOFF_MS = 30 * 60 * 1000
MAX_ERROR_MESSAGE = 512
MAX_ERROR_DETAIL = 8192  # characters of a traceback kept: its end, where the raise is
AWAIT_TIMEOUT = "AWAIT_TIMEOUT"


@dataclass(frozen=True)
class RetryPolicy:
    max_retries: int = 3
    retry_delay_ms: int = 10_000
    multiplier: float = 2.0
    jitter: float = 0.1

    def delay_ms(self, attempt: int, rand: float = 0.5) -> int:
        """Delay before retry number ``attempt`` (1-based).

        ``retry_delay * max(1, multiplier) ** (attempt - 1)``, capped at 30 minutes, then spread by
        ``± jitter`` so executions that failed together do not retry in lock step. ``rand`` in
        ``[0, 1)``; 0.5 means no spread.
        """
        base = self.retry_delay_ms * max(1.0, self.multiplier) ** max(0, attempt - 1)
        capped = min(base, MAX_BACKOFF_MS)
        spread = capped * self.jitter * (2.0 * rand - 1.0)
        return max(0, min(MAX_BACKOFF_MS, int(capped + spread)))


# What every commit that ends a transition writes: nobody holds the lease any more.
_NO_LEASE: dict[str, Any] = {"lease_owner": None, "lease_expires_epoch_ms": 0}


def _touch(record: ExecutionRecord, now_ms: int, **changes: Any) -> ExecutionRecord:
    touched = replace(record, version=record.version + 1, updated_at_epoch_ms=now_ms, **changes)
    if touched.ttl_epoch_s and not touched.terminal:
        # A live execution never expires, whatever TTL it carried (see retain).
        touched = replace(touched, ttl_epoch_s=0)
    return touched


def retain(record: ExecutionRecord, retention_ms: int) -> ExecutionRecord:
    """``record`` with the TTL its status calls for: ``retention_ms`` after it became terminal
    (its ``updated_at_epoch_ms``, stamped by the transition), none while it is live.

    Applied to every commit of a transition, so the terminal one starts the retention period; an
    execution parked on a 14-day await is kept however long it waits.
    """
    if not record.terminal:
        return record if record.ttl_epoch_s == 0 else replace(record, ttl_epoch_s=0)
    ttl = (record.updated_at_epoch_ms + max(1, retention_ms)) // 1000
    return record if record.ttl_epoch_s == ttl else replace(record, ttl_epoch_s=ttl)


def _trim(message: str | None) -> str | None:
    if message is None:
        return None
    return message if len(message) <= MAX_ERROR_MESSAGE else message[: MAX_ERROR_MESSAGE - 1] + "…"


def trim_detail(detail: str | None) -> str | None:
    """The last :data:`MAX_ERROR_DETAIL` characters of a traceback (the frame that raised and
    the exception are at its end)."""
    if detail is None or len(detail) <= MAX_ERROR_DETAIL:
        return detail
    return "…" + detail[-(MAX_ERROR_DETAIL - 1) :]


def lease(record: ExecutionRecord, owner: str, now_ms: int, lease_ms: int) -> ExecutionRecord:
    """``record`` RUNNING under ``owner``'s lease. Its due time becomes the lease expiry, so the
    due index alone finds an expired lease (the original leaves ``nextDue`` unchanged)."""
    if lease_ms <= 0:
        raise ValueError(f"lease_ms must be positive, got {lease_ms}")
    expires = now_ms + lease_ms
    return _touch(
        record,
        now_ms,
        status=ExecutionStatus.RUNNING,
        lease_owner=owner,
        lease_expires_epoch_ms=expires,
        next_due_epoch_ms=expires,
    )


def advance_stream(
    record: ExecutionRecord,
    now_ms: int,
    step_index: int,
    items: ItemProgress,
    owner: str,
    lease_ms: int,
) -> ExecutionRecord:
    """A leased execution moved to ``step_index`` across a stream boundary (its expansion
    stored the items, or its items are done), still RUNNING under a fresh lease of ``owner``'s:
    the next phase runs at once, and if this process dies the lease expires and the sweeper
    finds it where this commit left it."""
    leased = lease(record, owner, now_ms, lease_ms)
    return replace(
        leased,
        current_step_index=step_index,
        items=items,
        last_transition_key=current_transition_key(record),
    )


def is_claimable(record: ExecutionRecord, now_ms: int) -> bool:
    return record.status in CLAIMABLE_STATUSES and record.next_due_epoch_ms <= now_ms


def current_transition_key(record: ExecutionRecord) -> str:
    return transition_key(record.execution_id, record.current_step_index, record.attempt)


def mark_succeeded(
    record: ExecutionRecord, now_ms: int, result_type_id: str | None, result: Any
) -> ExecutionRecord:
    return _touch(
        record,
        now_ms,
        status=ExecutionStatus.SUCCEEDED,
        last_transition_key=current_transition_key(record),
        result_type_id=result_type_id,
        result_payload=result,
        **_NO_LEASE,
        next_due_epoch_ms=now_ms,
        error_code=None,
        error_message=None,
        error_detail=None,
    )


def mark_waiting(
    record: ExecutionRecord, now_ms: int, interaction: AwaitInteraction
) -> ExecutionRecord:
    """Park on ``interaction``: never due until a completion or timeout moves it."""
    return _touch(
        record,
        now_ms,
        status=ExecutionStatus.WAITING_EXTERNAL,
        last_transition_key=current_transition_key(record),
        current_step_index=interaction.step_index,
        await_unit_id=interaction.unit_id,
        await_interaction_id=interaction.interaction_id,
        **_NO_LEASE,
        next_due_epoch_ms=NEVER_DUE_EPOCH_MS,
        result_payload=None,
        error_code=None,
        error_message=None,
        error_detail=None,
    )


def is_parked_on(record: ExecutionRecord, interaction: AwaitInteraction) -> bool:
    return (
        record.status is ExecutionStatus.WAITING_EXTERNAL
        and record.await_interaction_id == interaction.interaction_id
    )


def resume_after_await(
    record: ExecutionRecord, now_ms: int, interaction: AwaitInteraction
) -> ExecutionRecord:
    """A completed interaction re-queues its execution at the step after the await."""
    if not is_parked_on(record, interaction):
        raise Conflict(
            f"execution {record.execution_id} is {record.status}, not parked on interaction "
            f"{interaction.interaction_id}"
        )
    if interaction.status is not InteractionStatus.COMPLETED:
        raise Conflict(f"interaction {interaction.interaction_id} is {interaction.status}")
    return _touch(
        record,
        now_ms,
        status=ExecutionStatus.QUEUED,
        current_step_index=interaction.step_index + 1,
        next_due_epoch_ms=now_ms,
        **_NO_LEASE,
    )


def resume_without_parking(
    record: ExecutionRecord, now_ms: int, interaction: AwaitInteraction
) -> ExecutionRecord:
    """A running transition reached an await whose interaction is already completed (a re-run
    after a crash): skip the park and queue the step after the await directly."""
    if interaction.status is not InteractionStatus.COMPLETED:
        raise Conflict(f"interaction {interaction.interaction_id} is {interaction.status}")
    return _touch(
        record,
        now_ms,
        status=ExecutionStatus.QUEUED,
        last_transition_key=current_transition_key(record),
        current_step_index=interaction.step_index + 1,
        await_unit_id=interaction.unit_id,
        await_interaction_id=interaction.interaction_id,
        **_NO_LEASE,
        next_due_epoch_ms=now_ms,
    )


def schedule_retry(
    record: ExecutionRecord,
    now_ms: int,
    delay_ms: int,
    error_code: str,
    error_message: str | None,
    error_detail: str | None = None,
) -> ExecutionRecord:
    return _touch(
        record,
        now_ms,
        status=ExecutionStatus.WAIT_RETRY,
        last_transition_key=current_transition_key(record),
        attempt=record.attempt + 1,
        next_due_epoch_ms=now_ms + delay_ms,
        **_NO_LEASE,
        error_code=error_code,
        error_message=_trim(error_message),
        error_detail=trim_detail(error_detail),
    )


def mark_failed(
    record: ExecutionRecord,
    now_ms: int,
    *,
    error_code: str,
    error_message: str | None,
    terminal_reason: str,
    retryable: bool,
    error_detail: str | None = None,
) -> ExecutionRecord:
    """Terminal FAILED plus the durable DLQ mark, in one write (nothing lost between the two)."""
    key = current_transition_key(record)
    message = _trim(error_message)
    detail = trim_detail(error_detail)
    envelope = DeadLetterEnvelope(
        tenant_id=record.tenant_id,
        execution_id=record.execution_id,
        execution_key=record.execution_key,
        correlation_id=record.execution_key,
        transition_key=key,
        terminal_status=ExecutionStatus.FAILED.value,
        terminal_reason=terminal_reason,
        error_code=error_code,
        error_message=message,
        retryable=retryable,
        retries_observed=record.attempt,
        created_at_epoch_ms=now_ms,
        error_detail=detail,
    )
    return _touch(
        record,
        now_ms,
        status=ExecutionStatus.FAILED,
        last_transition_key=key,
        **_NO_LEASE,
        next_due_epoch_ms=now_ms,
        error_code=error_code,
        error_message=message,
        error_detail=detail,
        dead_letters=(*record.dead_letters, envelope),
    )


def decide_failure(
    record: ExecutionRecord,
    now_ms: int,
    policy: RetryPolicy,
    *,
    error_code: str,
    error_message: str | None,
    retryable: bool,
    rand: float = 0.5,
    error_detail: str | None = None,
) -> ExecutionRecord:
    """Retry with backoff while the budget lasts and the error allows, else fail terminally."""
    next_attempt = record.attempt + 1
    if retryable and next_attempt <= policy.max_retries:
        delay = policy.delay_ms(next_attempt, rand)
        return schedule_retry(record, now_ms, delay, error_code, error_message, error_detail)
    return mark_failed(
        record,
        now_ms,
        error_code=error_code,
        error_message=error_message,
        terminal_reason="retry_exhausted" if retryable else "non_retryable",
        retryable=retryable,
        error_detail=error_detail,
    )


def fail_await_timeout(
    record: ExecutionRecord, now_ms: int, interaction: AwaitInteraction
) -> ExecutionRecord:
    return mark_failed(
        record,
        now_ms,
        error_code=AWAIT_TIMEOUT,
        error_message=f"Await interaction timed out: {interaction.interaction_id}",
        terminal_reason="await_timeout",
        retryable=False,
    )
