"""The pure re-open decision (``tpf.core.redrives.reopen_await``).

Which await, and when to refuse."""

from __future__ import annotations

import msgspec
import pytest

from tests.test_lifecycle import NOW, failed_record, interaction, record
from tpf.core import interactions as inter
from tpf.core import lifecycle, redrives
from tpf.core.errors import Conflict
from tpf.core.records import AwaitInteraction, ExecutionRecord, ExecutionStatus

replace = msgspec.structs.replace
AWAIT_STEP = 2  # interaction() parks at step 2; failed_record() failed at step 3


def completed() -> AwaitInteraction:
    return inter.complete(interaction(), NOW, {"approved": True}, "chef")


def test_a_failure_after_the_await_reopens_that_await() -> None:
    r = failed_record(current_step_index=AWAIT_STEP + 1)
    answered = completed()
    queued = redrives.reopen_await(
        r, NOW + 7, answered, expected_version=r.version, reason="  wrong orderId  "
    )
    assert queued.status is ExecutionStatus.QUEUED
    assert queued.current_step_index == AWAIT_STEP
    assert queued.attempt == r.attempt + 1  # a fresh attempt: fresh interaction ids
    assert queued.version == r.version + 1
    assert queued.next_due_epoch_ms == NOW + 7
    assert queued.error_code is None and queued.lease_owner is None
    # It still points at the old interaction: the await step's input is its request.
    assert queued.await_interaction_id == answered.interaction_id
    (entry,) = queued.redrives
    assert entry.reason == "wrong orderId"
    assert entry.previous_status == "FAILED"
    assert entry.reopened_interaction_id == answered.interaction_id
    assert entry.from_version == r.version and entry.at_epoch_ms == NOW + 7


def test_a_timed_out_await_is_reopened_in_place() -> None:
    timed_out = inter.time_out(interaction(), NOW)
    r = lifecycle.fail_await_timeout(
        lifecycle.mark_waiting(record(), NOW, interaction()), NOW, timed_out
    )
    queued = redrives.reopen_await(r, NOW, timed_out, expected_version=None, reason=None)
    assert queued.current_step_index == AWAIT_STEP
    assert queued.redrives[-1].reason == "operator"


@pytest.mark.parametrize(
    "status",
    [
        ExecutionStatus.DLQ,
        ExecutionStatus.SUCCEEDED,
        ExecutionStatus.WAITING_EXTERNAL,
        ExecutionStatus.RUNNING,
        ExecutionStatus.QUEUED,
        ExecutionStatus.WAIT_RETRY,
    ],
)
def test_only_a_failed_execution_reopens(status: ExecutionStatus) -> None:
    r = failed_record(status=status)
    with pytest.raises(Conflict, match=f"is {status.value}: only a FAILED execution"):
        redrives.reopen_await(r, NOW, completed(), expected_version=None, reason=None)


def refusal(r: ExecutionRecord, found: AwaitInteraction | None) -> Conflict:
    with pytest.raises(Conflict) as caught:
        redrives.reopen_await(r, NOW, found, expected_version=None, reason=None)
    assert caught.value.code == redrives.NO_AWAIT_TO_REOPEN
    return caught.value


def test_no_await_to_reopen() -> None:
    never_parked = lifecycle.mark_failed(
        record(current_step_index=0),
        NOW,
        error_code="E",
        error_message="m",
        terminal_reason="non_retryable",
        retryable=False,
    )
    assert "has no await to re-open: it failed at step 0" in refusal(never_parked, None).message
    gone = refusal(failed_record(), None)
    assert "is no longer stored" in gone.message
    # A failure that is neither at nor right after the await it points at.
    far = refusal(failed_record(current_step_index=AWAIT_STEP + 2), completed())
    assert "not at or right after its last await (step 2" in far.message
    # An await still open (cannot happen on the engine's path): not re-opened twice.
    open_one = refusal(failed_record(current_step_index=AWAIT_STEP), interaction())
    assert "DISPATCHED" in open_one.message


def test_reopen_checks_the_expected_version() -> None:
    r = failed_record()
    with pytest.raises(Conflict, match="version mismatch"):
        redrives.reopen_await(r, NOW, completed(), expected_version=r.version - 1, reason=None)
