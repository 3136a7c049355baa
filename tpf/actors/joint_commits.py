"""An execution's commit and its interaction's write as one, where the store can
(``StoreSet.await_commits``; DynamoDB and SQLite): a park, and the resume that applies a
resolution.

Each returns what the general path in :mod:`tpf.actors.commits` would, or says it did nothing
(the store wrote nothing) so that the general path runs instead and decides what happened.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import OrderedDict
from collections.abc import Iterator
from typing import TYPE_CHECKING

from tpf.core import crash_points as cp
from tpf.core import interactions as inter
from tpf.core import lifecycle
from tpf.core.records import AwaitInteraction, ExecutionRecord

if TYPE_CHECKING:
    from tpf.actors.commits import ExecutionCommits, Refused

_RECENT_MAX = 4096  # parked interactions remembered (about 1 KB each)
_DISPATCH_WAIT_S = 2.0  # an answer waits this long at most for its dispatch's mark


class RecentInteractions:
    """The interactions this process just created with a joint park or just dispatched (their
    request published, the interaction marked so), by id, for the completion that answers
    them: it can try its compare-and-set on this copy instead of reading the interaction first
    (one request instead of two on DynamoDB, one hop to SQLite's thread instead of two). The
    write is conditional on the version, so a copy that went stale (another coordinator or a
    supervisor changed it) only costs the failed write, then the usual read. Interactions whose
    request still has to be published are left out: the dispatch changes their version at once
    (and remembers that copy)."""

    def __init__(self) -> None:
        self._items: OrderedDict[tuple[str, str], AwaitInteraction] = OrderedDict()
        # Dispatches under way here: set once the interaction is marked dispatched (or not).
        self._dispatching: dict[tuple[str, str], asyncio.Event] = {}

    def remember(self, interaction: AwaitInteraction) -> None:
        if interaction.undispatched:
            return
        self._items[(interaction.tenant_id, interaction.interaction_id)] = interaction
        if len(self._items) > _RECENT_MAX:
            self._items.popitem(last=False)

    def take(self, tenant_id: str, interaction_id: str) -> AwaitInteraction | None:
        """The remembered copy, forgotten now (one completion tries it at most)."""
        return self._items.pop((tenant_id, interaction_id), None)

    @contextlib.contextmanager
    def dispatching(self, interaction: AwaitInteraction) -> Iterator[None]:
        """This process publishes ``interaction``'s request and marks it dispatched within the
        block: an answer that arrives meanwhile (a quick provider answers before the mark is
        written) waits for the block's end (:meth:`take_after_dispatch`) and tries the marked
        copy, instead of reading an interaction about to change."""
        key = (interaction.tenant_id, interaction.interaction_id)
        done = self._dispatching.setdefault(key, asyncio.Event())
        try:
            yield
        finally:
            if self._dispatching.get(key) is done:
                del self._dispatching[key]
            done.set()

    async def take_after_dispatch(
        self, tenant_id: str, interaction_id: str, wait_s: float = _DISPATCH_WAIT_S
    ) -> AwaitInteraction | None:
        """:meth:`take`, once a dispatch of the interaction under way here has ended (waiting
        at most ``wait_s``: the caller reads the store after that)."""
        dispatch = self._dispatching.get((tenant_id, interaction_id))
        if dispatch is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(dispatch.wait(), wait_s)
        return self.take(tenant_id, interaction_id)


async def park(
    commits: ExecutionCommits, claimed: ExecutionRecord, interaction: AwaitInteraction
) -> bool:
    """Create the interaction and commit the park in one write; whether it did.

    No completion can be admitted before the interaction exists, and it exists only with the
    park committed, so there is nothing to look at again afterwards; its request leaves after
    the park (the dispatch outbox sends it if we die first)."""
    engine = commits.engine
    joint = engine.stores.await_commits
    if joint is None:
        return False
    worker_id = commits.worker_id  # noted() takes it; the general path needs it back
    waiting = await commits.noted(
        claimed,
        lifecycle.mark_waiting(claimed, engine.clock.now_ms(), interaction),
        "PARKED",
        claimed=claimed,
        interaction_id=interaction.interaction_id,
    )
    record = lifecycle.retain(waiting, engine.settings.execution.ttl_ms)
    parked = await joint.park(record, claimed.version, interaction)
    if parked is None:
        commits.worker_id = worker_id
        return False
    cp.crash_point(cp.PARK_COMMIT)  # interaction and park stored together, not yet dispatched
    commits.last = parked
    engine.committed(parked)
    if interaction.undispatched:
        engine.interaction_stored(interaction)
    engine.recent_interactions.remember(interaction)
    commits.parked(parked, interaction)
    return True


async def resume(
    commits: ExecutionCommits,
    running: ExecutionRecord,
    expected_version: int,
    interaction: AwaitInteraction,
) -> tuple[ExecutionRecord | Refused, bool]:
    """Commit the resumed record, with the interaction marked applied in the same write where
    the store can (then ``True``); else (``False``) the caller marks it after."""
    engine = commits.engine
    joint = engine.stores.await_commits
    if joint is not None and not interaction.applied:
        applied = inter.mark_applied(interaction, engine.clock.now_ms())
        record = lifecycle.retain(running, engine.settings.execution.ttl_ms)
        done = await joint.resume(record, expected_version, applied, interaction.version)
        if done is not None:
            commits.last = done
            engine.committed(done)
            return done, True
    return await commits.commit(running, expected_version), False
