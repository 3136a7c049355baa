"""Live stream sessions: where a resolved item interaction finds the run that applies it.

While a coordinator runs an expanded execution's items (:mod:`tpf.actors.streams`), that run
holds the execution's lease and a session here. A completion or timeout of one of its items,
admitted by this coordinator (REST, SQS, Kafka, the sweeper), is handed to the session's inbox
instead of the execution actor's mailbox, which the run occupies. With no session here (the
items run on another coordinator, or nobody runs them right now) the interaction stays
resolved and unapplied in the store: the run that holds the lease finds it when it looks
(every rescan, and on start after a takeover). The registry also answers the status route's
live item counts.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field

from tpf.core.items import ItemProgress
from tpf.core.records import AwaitInteraction

_Key = tuple[str, str]


@dataclass
class StreamSession:
    """One running stream: its inbox of resolved item interactions and its live counts."""

    # ``None`` only wakes the run (an item finished: the window has room).
    inbox: asyncio.Queue[AwaitInteraction | None] = field(default_factory=asyncio.Queue)
    progress: ItemProgress = field(default_factory=ItemProgress)
    # True while the run waits for answers with nothing of its own in progress (no item being
    # finished): the run is idle until an answer or its rescan (``tpf.testing`` settles on it).
    waiting: bool = False


class StreamSessions:
    def __init__(self) -> None:
        self._sessions: dict[_Key, StreamSession] = {}
        self._changed = asyncio.Event()  # set and replaced on every progress change

    def open(self, tenant_id: str, execution_id: str) -> StreamSession:
        session = StreamSession()
        self._sessions[(tenant_id, execution_id)] = session
        self._notify()
        return session

    def close(self, tenant_id: str, execution_id: str, session: StreamSession) -> None:
        if self._sessions.get((tenant_id, execution_id)) is session:
            del self._sessions[(tenant_id, execution_id)]
        self._notify()

    def publish(self, session: StreamSession, progress: ItemProgress) -> None:
        session.progress = progress
        self._notify()

    def wait_begins(self, session: StreamSession, idle: bool) -> None:
        """The run waits for its inbox; ``idle`` when no item of it is being finished."""
        session.waiting = idle
        if idle:
            self._notify()

    def _notify(self) -> None:
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    def next_change(self) -> asyncio.Event:
        """An event set at the next change of any run's progress (a dispatch, an answer
        applied, a run opened or closed): take it before acting, wait on it after, and no
        change in between is missed."""
        return self._changed

    async def wait_for(
        self,
        tenant_id: str,
        execution_id: str,
        predicate: Callable[[ItemProgress], bool],
        timeout_s: float,
    ) -> ItemProgress:
        """The run's progress once ``predicate`` holds for it (tests, the demo's sampler);
        :class:`TimeoutError` after ``timeout_s``."""
        async with asyncio.timeout(timeout_s):
            while True:
                changed = self._changed
                progress = self.progress(tenant_id, execution_id)
                if progress is not None and predicate(progress):
                    return progress
                await changed.wait()

    def signal(self, interaction: AwaitInteraction) -> bool:
        """Hand a resolved item interaction to its run, if it runs here."""
        session = self._sessions.get((interaction.tenant_id, interaction.execution_id))
        if session is None:
            return False
        session.inbox.put_nowait(interaction)
        return True

    def idle(self, tenant_id: str, execution_id: str) -> bool:
        """Whether the execution's run here only waits for answers (nothing in progress, an
        empty inbox): ``tpf.testing`` counts such a run as settled."""
        session = self._sessions.get((tenant_id, execution_id))
        return session is not None and session.waiting and session.inbox.empty()

    def progress(self, tenant_id: str, execution_id: str) -> ItemProgress | None:
        session = self._sessions.get((tenant_id, execution_id))
        return None if session is None else session.progress
