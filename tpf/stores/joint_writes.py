"""The ``AwaitCommits`` Protocol: an execution's commit, or a stream item's write, together with
its interaction's write, in one atomic store write.

Kept beside :mod:`tpf.stores.base` (which re-exports it) so each stays small. Optional: DynamoDB
has it (one ``TransactWriteItems`` each, :mod:`tpf.stores.dynamo.await_commits`), SQLite too (one
operation on its database thread each, :mod:`tpf.stores.sqlite.await_commits`); without it (the
memory store) the general path writes the records one after the other. Each method writes
nothing and says so (``None`` or ``False``) when any of its conditions fails; the caller then
takes the general path, which tells the cases apart.
"""

from __future__ import annotations

from typing import Protocol

from tpf.core.items import StreamItem
from tpf.core.records import AwaitInteraction, ExecutionRecord


class AwaitCommits(Protocol):
    """Joint writes of an interaction with the record that waits on it.

    The general path of each, one write after another: a park stores the interaction, commits
    the execution, then reads the interaction again in case a completion was admitted in
    between (three requests); a resume commits the execution, then marks the interaction
    applied (two); a stream item's dispatch creates its interaction, then marks the item
    ``AWAITING`` (two); an answered item's finish writes the item ``DONE`` with its output,
    then marks the interaction applied (two).
    """

    async def park(
        self, waiting: ExecutionRecord, expected_version: int, interaction: AwaitInteraction
    ) -> ExecutionRecord | None:
        """``waiting`` committed with ``interaction`` created; ``None`` if the interaction or
        its correlation id exists or the execution is not at ``expected_version``. Written
        together, no completion can come between them, so no read-back is needed."""
        ...

    async def resume(
        self,
        running: ExecutionRecord,
        expected_version: int,
        applied: AwaitInteraction,
        interaction_version: int,
    ) -> ExecutionRecord | None:
        """``running`` committed with ``applied`` (the resolved interaction marked applied)
        replacing the interaction at ``interaction_version``; ``None`` if either moved on."""
        ...

    async def dispatch_item(
        self, awaiting: StreamItem, item_version: int, interaction: AwaitInteraction
    ) -> bool:
        """``interaction`` created with the item stored ``awaiting`` on it, replacing the item
        at ``item_version``; ``False`` if the interaction or its correlation id exists or the
        item moved on. No answer can come before the item waits: they exist together."""
        ...

    async def finish_item(
        self,
        done: StreamItem,
        item_version: int,
        applied: AwaitInteraction,
        interaction_version: int,
    ) -> bool:
        """The item stored ``done`` (final, with its output) replacing it at ``item_version``,
        with ``applied`` (its resolved interaction marked applied) replacing the interaction at
        ``interaction_version``; ``False`` if either moved on."""
        ...
