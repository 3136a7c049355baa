"""Stream items (issue 13): the records an expanded execution keeps one per item.

An expansion step (``ONE_TO_MANY``) turns one execution's value into N items; each item then
runs the per-item steps (an itemized await with one interaction per item, branches) and its
output waits for the aggregation step (``MANY_TO_ONE``). Items live in their own store, read and
written in pages, so an execution of 100,000 items never holds them all in memory.

An item moves ``PENDING`` (stored by the expansion) → ``AWAITING`` (its interaction exists and
holds a place in the live window) → ``DONE`` (its per-item steps ran, its output is stored) or
``FAILED``. Each move is a compare-and-set on the item's ``version``: the first writer wins, so
a completion applied twice, or by two coordinators, counts once.
"""

from __future__ import annotations

import enum
from typing import Any

from tpf.core.record_base import Record


class ItemStatus(enum.StrEnum):
    PENDING = "PENDING"
    AWAITING = "AWAITING"
    DONE = "DONE"
    FAILED = "FAILED"


ITEM_FINAL_STATUSES = frozenset({ItemStatus.DONE, ItemStatus.FAILED})


class StreamItem(Record, frozen=True, kw_only=True):
    """One item of an expanded execution."""

    tenant_id: str
    execution_id: str
    item_index: int
    status: ItemStatus = ItemStatus.PENDING
    version: int = 0
    # The item as the expansion produced it (plain JSON).
    payload: Any = None
    # AWAITING on: the item's interaction (derived from the execution, step and index).
    interaction_id: str | None = None
    # DONE: the output of its last per-item step (plain JSON), what the aggregation reads.
    output_payload: Any = None
    # DONE: the branch step it took (its step id), when the per-item steps branch.
    branch: str | None = None
    # FAILED: why.
    error_message: str | None = None
    updated_at_epoch_ms: int = 0
    # Retention follows the execution's: set when the execution ends (0 = none yet).
    ttl_epoch_s: int = 0


class ItemProgress(Record, frozen=True, kw_only=True):
    """How far an execution's items got, as its record shows it (status, console, CLI).

    Written with the execution's record at the expansion and at checkpoints while the items
    run, so it may lag the item store by a checkpoint interval; the item store is the truth.
    """

    total: int = 0
    done: int = 0
    failed: int = 0
    # Items whose interaction exists and is not answered yet (the live window's occupancy).
    in_flight: int = 0
    # Done items by the branch they took (step id → count).
    branches: dict[str, int] = {}

    @property
    def pending(self) -> int:
        return max(0, self.total - self.done - self.failed)
