"""Operator cancels, as pure decisions: end a live execution and close its open interactions.

A cancelled execution ends ``FAILED`` with ``errorCode`` ``CANCELLED`` (the original's status
enum has no CANCELLED status, and clients switch on it). No dead letter is written: nothing
failed, an operator decided, and the DLQ's consumers page on failures. Like
:mod:`tpf.core.redrives`, nothing here reads a clock or a store.
"""

from __future__ import annotations

import msgspec

from tpf.core.errors import Conflict, ValidationError
from tpf.core.lifecycle import _NO_LEASE, _touch, current_transition_key
from tpf.core.records import AwaitInteraction, ExecutionRecord, ExecutionStatus, InteractionStatus

CANCELLED = "CANCELLED"
MAX_CANCEL_REASON = 512


def cancel(
    record: ExecutionRecord, now_ms: int, *, reason: str, expected_version: int | None
) -> ExecutionRecord:
    """``record`` ended by an operator: FAILED with errorCode CANCELLED and the reason.

    Refused (409) when the execution is already terminal or its version is not
    ``expected_version``. The version bump is what fences a transition running elsewhere: its
    commit (and its lease renewal) expect the version it claimed, and are refused.
    """
    reason = reason.strip()
    if not reason:
        raise ValidationError("reason: is required (why the execution is cancelled)")
    if record.terminal:
        raise Conflict(
            f"Execution {record.execution_id} is {record.status.value} and cannot be cancelled",
            code="EXECUTION_TERMINAL",
        )
    if expected_version is not None and expected_version != record.version:
        raise Conflict(
            f"Execution {record.execution_id} version mismatch: expected {expected_version} "
            f"but current version is {record.version}"
        )
    return _touch(
        record,
        now_ms,
        status=ExecutionStatus.FAILED,
        last_transition_key=current_transition_key(record),
        **_NO_LEASE,
        next_due_epoch_ms=now_ms,
        error_code=CANCELLED,
        error_message=f"Cancelled by an operator: {reason[:MAX_CANCEL_REASON]}",
        error_detail=None,
    )


def cancel_interaction(interaction: AwaitInteraction, now_ms: int) -> AwaitInteraction:
    """A pending interaction of a cancelled execution, closed: later completions get a 409.

    Marked applied: its execution already ended, there is nothing to resume.
    """
    return msgspec.structs.replace(
        interaction,
        status=InteractionStatus.CANCELLED,
        version=interaction.version + 1,
        updated_at_epoch_ms=now_ms,
        applied=True,
    )
