"""Operator re-drives, as pure decisions: re-run a terminal execution, or re-open its last await.

Split from :mod:`tpf.core.lifecycle` (the transitions a coordinator makes by itself) because these
are the transitions an operator asks for (spec §2.2, and our ``reopenAwait``): they check the
request against the record (status, ``expectedVersion``) and record the re-drive with its
reason. Like the lifecycle, nothing here reads a clock or a store.
"""

from __future__ import annotations

from tpf.core.errors import Conflict
from tpf.core.lifecycle import _NO_LEASE, _touch
from tpf.core.records import AwaitInteraction, ExecutionRecord, ExecutionStatus, RedriveEntry

MAX_REDRIVE_REASON = 80


def redrive(
    record: ExecutionRecord,
    now_ms: int,
    *,
    expected_version: int | None,
    allow_failed: bool,
    reason: str | None,
) -> ExecutionRecord:
    """Operator re-drive of a terminal execution (spec §2.2): same id and step, attempt + 1.

    The reason is kept on the record (the original only logs it). Unpublished DLQ envelopes stay
    in the outbox, so the evidence of the earlier failure is not lost.
    """
    eid = record.execution_id
    if record.status is ExecutionStatus.DLQ:
        pass
    elif record.status is ExecutionStatus.FAILED:
        if not allow_failed:
            raise Conflict(
                f"Execution {eid} cannot be re-driven from status FAILED without allowFailed=true"
            )
    else:
        raise Conflict(f"Execution {eid} cannot be re-driven from status {record.status}")
    _check_version(record, expected_version)
    return _requeue(record, now_ms, expected_version=expected_version, reason=reason)


def _check_version(record: ExecutionRecord, expected_version: int | None) -> None:
    if expected_version is not None and expected_version != record.version:
        raise Conflict(
            f"Execution {record.execution_id} version mismatch: expected {expected_version} "
            f"but current version is {record.version}"
        )


def _requeue(
    record: ExecutionRecord,
    now_ms: int,
    *,
    expected_version: int | None,
    reason: str | None,
    reopened: AwaitInteraction | None = None,
) -> ExecutionRecord:
    """Queue a terminal execution again with attempt + 1, recording the re-drive; ``reopened``
    moves it back to that interaction's await step."""
    eid = record.execution_id
    text = (reason or "").strip()[:MAX_REDRIVE_REASON] or "operator"
    entry = RedriveEntry(
        at_epoch_ms=now_ms,
        reason=text,
        previous_status=record.status.value,
        expected_version=expected_version,
        from_version=record.version,
        reopened_interaction_id=reopened.interaction_id if reopened else None,
    )
    return _touch(
        record,
        now_ms,
        status=ExecutionStatus.QUEUED,
        attempt=record.attempt + 1,
        current_step_index=reopened.step_index if reopened else record.current_step_index,
        next_due_epoch_ms=now_ms,
        last_transition_key=f"redrive:{eid}:{expected_version}",
        **_NO_LEASE,
        result_payload=None,
        result_type_id=None,
        error_code=None,
        error_message=None,
        error_detail=None,
        redrives=(*record.redrives, entry),
    )


NO_AWAIT_TO_REOPEN = "NO_AWAIT_TO_REOPEN"


def reopen_await(
    record: ExecutionRecord,
    now_ms: int,
    interaction: AwaitInteraction | None,
    *,
    expected_version: int | None,
    reason: str | None,
) -> ExecutionRecord:
    """Re-drive a FAILED execution from its last await, so a corrected answer can complete it.

    Its last await is the record's ``await_interaction_id`` (``interaction``, as stored); the
    failure was in the transition resumed after it (a wrong answer failed the next step) or at
    the await itself (a timeout). The execution is queued at the await step, attempt + 1, and
    parks on a fresh interaction (ids derive from the attempt) with the old one's request; the
    old one keeps its answer as evidence. A failure before any await has none to re-open.
    """
    eid = record.execution_id
    if record.status is not ExecutionStatus.FAILED:
        raise Conflict(
            f"Execution {eid} is {record.status}: only a FAILED execution can re-open its await"
        )
    if record.await_interaction_id is None:
        raise Conflict(
            f"Execution {eid} has no await to re-open: it failed at step "
            f"{record.current_step_index} before parking on any await",
            code=NO_AWAIT_TO_REOPEN,
        )
    if interaction is None or interaction.interaction_id != record.await_interaction_id:
        raise Conflict(
            f"Execution {eid} cannot re-open its await: interaction "
            f"{record.await_interaction_id} is no longer stored",
            code=NO_AWAIT_TO_REOPEN,
        )
    if interaction.pending or interaction.step_index not in (
        record.current_step_index,
        record.current_step_index - 1,
    ):
        raise Conflict(
            f"Execution {eid} has no await to re-open: it failed at step "
            f"{record.current_step_index}, not at or right after its last await (step "
            f"{interaction.step_index}, interaction {interaction.interaction_id} "
            f"{interaction.status})",
            code=NO_AWAIT_TO_REOPEN,
        )
    _check_version(record, expected_version)
    return _requeue(
        record, now_ms, expected_version=expected_version, reason=reason, reopened=interaction
    )
