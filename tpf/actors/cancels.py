"""The execution actor's cancel: end the execution, then close its open interactions.

It runs as a message of the execution's actor, so it never races the actor's own commits in
this process; a transition running in another process is fenced by the version bump (its lease
renewal and its commit expect the version it claimed). The caller revokes a transition this
process runs before asking (:meth:`tpf.supervisors.lease_keeper.LeaseKeeper.revoke`), so the
message is not stuck behind it in the mailbox.

The interactions close after the execution's commit: a cancel refused for a stale version
leaves them open. A completion admitted between the two writes finds the execution FAILED and
is only marked applied (nothing resumes).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

from tpf.actors.commits import LOG, ExecutionCommits, Refused
from tpf.actors.messages import Cancel
from tpf.actors.stream_outputs import item_pages
from tpf.core import cancels
from tpf.core.errors import Conflict, NotFound
from tpf.core.items import ItemStatus
from tpf.core.records import AwaitInteraction, ExecutionRecord
from tpf.core.streams import budget_scope


async def cancel_execution(
    commits: ExecutionCommits, tenant_id: str, execution_id: str, message: Cancel
) -> ExecutionRecord:
    engine = commits.engine
    now = engine.clock.now_ms()
    record = await engine.stores.executions.get(tenant_id, execution_id, now)
    if record is None:
        raise NotFound(f"Execution not found: {execution_id}")
    ended = cancels.cancel(
        record, now, reason=message.reason, expected_version=message.expected_version
    )
    ended = await commits.noted(record, ended, cancels.CANCELLED, reason=message.reason.strip())
    committed = await commits.commit(ended, record.version)
    if isinstance(committed, Refused):
        raise Conflict(f"Execution {execution_id} changed before the cancel could be admitted")
    engine.counters["cancelled"] += 1
    LOG.info(
        "execution %s/%s cancelled from %s at version %d: %s",
        tenant_id,
        execution_id,
        record.status.value,
        record.version,
        message.reason.strip(),
    )
    await close_interactions(commits, committed)
    return committed


async def _open_interactions(
    commits: ExecutionCommits, record: ExecutionRecord
) -> AsyncIterator[AwaitInteraction]:
    """The interactions of ``record`` that may be open: a stream's are those of its items still
    awaiting (read from the item store a page at a time: there may be thousands), a scalar
    execution's are listed by the await store."""
    engine = commits.engine
    awaits = engine.stores.awaits
    if record.items is None:
        for interaction in await awaits.list_for_execution(record.tenant_id, record.execution_id):
            yield interaction
        return
    async for page in item_pages(engine, record, ItemStatus.AWAITING):
        for item in page:
            if item.interaction_id is not None:
                found = await awaits.get(record.tenant_id, item.interaction_id)
                if found is not None:
                    yield found


async def close_interactions(commits: ExecutionCommits, record: ExecutionRecord) -> int:
    """Cancel every pending interaction of ``record`` (and free a stream item's admission
    slot); how many were closed."""
    engine = commits.engine
    awaits = engine.stores.awaits
    closed = 0
    async for interaction in _open_interactions(commits, record):
        if interaction.item_index is not None and engine.budget is not None:
            scope = budget_scope(record.pipeline_id, interaction)
            await engine.budget.release(scope, interaction.interaction_id)
        current: AwaitInteraction | None = interaction
        while current is not None and current.pending:
            now = engine.clock.now_ms()
            done = await awaits.compare_and_set(
                cancels.cancel_interaction(current, now), current.version
            )
            if done is not None:
                closed += 1
                engine.feed.interaction_changed(done)  # the console's inbox drops it
                break
            current = await awaits.get(current.tenant_id, current.interaction_id)
    if closed:
        LOG.log(logging.DEBUG, "closed %d interaction(s) of %s", closed, record.execution_id)
    return closed
