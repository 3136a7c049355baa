"""An execution's journal: one bounded entry per committed state change (issue 12).

The journal travels inside the :class:`~tpf.core.records.ExecutionRecord` (``history``), so an
entry commits in the same compare-and-set as the change it describes: a crash can never leave a
change without its entry or an entry for a change that did not commit, and no store needs a
second table or a second write. It is bounded: :func:`append` keeps the first entry (the submit)
and the latest ``HISTORY_LIMIT - 1``, counting what it drops in ``history_dropped``, and trims
the free-text fields, so a record stays far below DynamoDB's item limit however long it runs.
"""

from __future__ import annotations

from msgspec.structs import replace

from tpf.core.record_base import Record

HISTORY_LIMIT = 100  # entries kept per execution (the first one plus the latest 99)
TEXT_LIMIT = 512  # characters kept of an entry's free-text fields


class HistoryEntry(Record, frozen=True, kw_only=True, omit_defaults=True):
    """One committed change of an execution (unset fields are left out of the stored JSON).

    ``kind`` names the change: ``SUBMITTED``, ``PARKED`` (waiting on an interaction),
    ``RESUMED`` (a completion applied), ``AWAIT_TIMED_OUT``, ``RETRY_SCHEDULED``, ``SUCCEEDED``,
    ``FAILED``, ``CANCELLED``, ``REDRIVEN``, ``EXPANDED`` and ``ITEMS_DONE`` (a stream's). A
    lease claim is not an entry of its own (on DynamoDB it is an attribute-only update that
    never rewrites the record): the entry that ends a transition carries its run time, who ran
    it, and ``took_over`` when its lease was claimed after another owner's had expired.
    ``from_status`` is ``None`` for the submit.
    """

    at_epoch_ms: int
    kind: str
    from_status: str | None
    to_status: str
    step_index: int
    step_id: str | None = None
    attempt: int = 0
    duration_ms: int | None = None  # the transition's run time, when the entry ends one
    coordinator_id: str | None = None  # who committed the change
    worker_id: str | None = None  # who ran the transition (a remote worker's id)
    error_code: str | None = None
    error_message: str | None = None
    interaction_id: str | None = None
    completed_by: str | None = None  # the completion's actor
    idempotency_key: str | None = None  # the completion's idempotency key
    reason: str | None = None  # an operator's reason (cancel, re-drive)
    took_over: bool = False
    # Ours (issue 13): an expanded execution's items in aggregate (``total``, ``done``, per
    # branch...): one entry for the expansion and one when its items are done, never per item.
    item_counts: dict[str, int] | None = None


def _trim(text: str | None) -> str | None:
    if text is None or len(text) <= TEXT_LIMIT:
        return text
    return text[: TEXT_LIMIT - 1] + "…"


def append(
    history: tuple[HistoryEntry, ...], dropped: int, entry: HistoryEntry
) -> tuple[tuple[HistoryEntry, ...], int]:
    """``history`` with ``entry`` appended and bounded, and the new count of dropped entries."""
    message, reason = _trim(entry.error_message), _trim(entry.reason)
    if message is not entry.error_message or reason is not entry.reason:
        entry = replace(entry, error_message=message, reason=reason)
    grown = (*history, entry)
    if len(grown) <= HISTORY_LIMIT:
        return grown, dropped
    excess = len(grown) - HISTORY_LIMIT
    return (grown[0], *grown[1 + excess :]), dropped + excess
