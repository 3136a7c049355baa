"""Gates between a coordinator under test and what outlives it: stores and the DLQ sink.

Each gate forwards every call to the real object while its :class:`~tpf.testing.life.Life` is
alive, and refuses (``SimulatedCrash``) once it died: a killed process writes nothing more. A
call already under way when the life dies is let finish (a write in flight at a SIGKILL may
land), but its caller never sees the answer. The real stores stay open for the next life.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import AsyncIterator, Callable
from typing import Any, cast

from tpf.core.records import DeadLetterEnvelope
from tpf.stores.base import StoreSet
from tpf.testing.life import Life


class Guarded:
    """Forwards attribute access to ``target``; every call, and every answer it awaits, first
    passes ``check``, which raises to refuse it (a dead life, a partitioned node)."""

    def __init__(self, target: object, check: Callable[[], None]) -> None:
        self._target = target
        self._check = check

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._target, name)
        if not callable(value):
            return value
        check = self._check

        @functools.wraps(value)
        def call(*args: Any, **kwargs: Any) -> Any:
            check()
            result = value(*args, **kwargs)
            if inspect.isawaitable(result):
                return _checked(result, check)
            if hasattr(result, "__anext__"):
                return _checked_iter(result, check)
            return result

        return call


async def _checked(result: Any, check: Callable[[], None]) -> Any:
    value = await result
    check()  # refused meanwhile (died, cut off): the answer goes nowhere
    return value


async def _checked_iter(
    result: AsyncIterator[Any], check: Callable[[], None]
) -> AsyncIterator[Any]:
    async for value in result:
        check()
        yield value


def gated_stores(stores: StoreSet, life: Life) -> StoreSet:
    """The coordinator's view of ``stores`` for ``life``; closing it leaves the real ones open
    (the env closes them once, at its end)."""
    return guarded_stores(stores, life.check, shared=False)


def guarded_stores(stores: StoreSet, check: Callable[[], None], *, shared: bool) -> StoreSet:
    """``stores`` with every call passing ``check`` first; nothing to close (the owner of the
    real set closes it once). ``shared``: other coordinators use the same state, so there is
    no expiring every other owner's leases at startup (another holder may be alive)."""

    def gate(store: object) -> Any:
        return cast(Any, Guarded(store, check))

    async def expire(keep_owner: str, now_ms: int) -> int:
        assert stores.expire_leases is not None
        check()
        return await stores.expire_leases(keep_owner, now_ms)

    return StoreSet(
        executions=gate(stores.executions),
        awaits=gate(stores.awaits),
        releases=gate(stores.releases),
        workers=gate(stores.workers),
        artifacts=gate(stores.artifacts),
        held=gate(stores.held),
        items=gate(stores.items),
        closers=[],
        expire_leases=expire if stores.expire_leases is not None and not shared else None,
        health=stores.health,
        budget=gate(stores.budget) if stores.budget is not None else None,
        # The joint park and resume too: the path the real stores take is the one crashed.
        await_commits=gate(stores.await_commits) if stores.await_commits is not None else None,
    )


class RecordingSink:
    """The DLQ as the test sees it: every envelope published, in order, across restarts."""

    def __init__(self) -> None:
        self.envelopes: list[DeadLetterEnvelope] = []

    async def publish(self, envelope: DeadLetterEnvelope) -> None:
        self.envelopes.append(envelope)

    async def start(self) -> None:
        return None

    async def aclose(self) -> None:
        return None


class GatedSink:
    """One life's handle on the DLQ sink: refuses once the life died."""

    def __init__(self, sink: Any, life: Life) -> None:
        self._sink = sink
        self._life = life

    async def publish(self, envelope: DeadLetterEnvelope) -> None:
        self._life.check()
        await self._sink.publish(envelope)

    async def start(self) -> None:
        start = getattr(self._sink, "start", None)
        if start is not None:
            await start()

    async def aclose(self) -> None:
        """A clean close closes a wrapper (which may flush); the recording outlives it."""
        close = getattr(self._sink, "aclose", None)
        if close is not None and not self._life.dead:
            await close()
