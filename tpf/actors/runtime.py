"""Virtual-actor runtime: the concurrency model of the coordinator.

Every piece of mutable coordinator state (one execution, one supervisor) lives in an ``Actor``
that handles one message at a time, so its state needs no locks. Actors are *virtual*, as in
Orleans: callers address them by ``(kind, key)`` and the ``ActorSystem`` activates an instance on
the first message and passivates it when idle. Every ``ask`` carries a timeout and, as in pykka,
fails with ``ActorStopped`` instead of hanging when its actor dies or the system stops.

Messages are :class:`tpf.actors.messages.Message` structs; an ``ask`` takes an
:class:`~tpf.actors.messages.Ask` and returns its reply type. An exception raised by ``receive``
is the answer to that message, not a crash: the actor goes on with the next one. The only crash
is an activation that cannot start (its factory or ``on_start`` raises): its pending asks fail
and the next message activates a fresh instance. There is no restart with backoff: every actor
of the coordinator keeps only caches that the store's version checks validate, so a fresh
activation on the next message *is* the restart from the store.

The message loop is the hot path (tens of thousands of messages per second): no task per
message, no logging per message, mailbox items are plain ``(message, future_or_None)`` tuples.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Hashable
from typing import Any, Generic, TypeVar, cast

from tpf.actors.messages import Ask, Message
from tpf.core.errors import ActorStopped, AskTimeout, StoreUnavailable

log = logging.getLogger(__name__)

M = TypeVar("M", bound=Message)
R = TypeVar("R")
_Item = tuple[Message, "asyncio.Future[object] | None"]
_Key = tuple[str, Hashable]
_SYSTEM_STOPPED = "actor system stopped"


class Actor(Generic[M]):
    """Subclass; one instance per ``(kind, key)`` activation, handling one message at a time.

    ``M`` is the union of messages the actor understands. The system does not check it at run
    time, so ``receive`` answers any other message with a ``TypeError``.
    """

    key: Hashable  # set by the system before on_start
    system: ActorSystem  # set by the system before on_start

    async def on_start(self) -> None:
        """Load state (e.g. from a store) before the first message; raising is a crash."""

    async def receive(self, message: M) -> object:
        """Handle one message; the return value answers an ``ask``, an exception is its answer."""
        raise NotImplementedError

    async def on_stop(self) -> None:
        """Release resources on passivation, a failed start or system stop (best effort)."""


class _Activation:
    """Runtime bookkeeping of one live ``(kind, key)`` and its actor instance."""

    __slots__ = (
        "actor",
        "current",
        "dead",
        "handling",
        "idle",
        "key",
        "kind",
        "queue",
        "task",
    )

    def __init__(self, kind: str, key: Hashable, mailbox_size: int) -> None:
        self.kind = kind
        self.key = key
        self.queue: asyncio.Queue[_Item] = asyncio.Queue(mailbox_size)
        self.task: asyncio.Task[None] | None = None
        self.actor: Actor[Any] | None = None
        self.current: asyncio.Future[object] | None = None  # the in-flight ask, failed on stop
        self.idle = False  # parked on an empty mailbox: the only state passivate_idle may stop
        self.handling = False
        self.dead = False  # detached from the registry: nobody reads this queue any more


class ActorSystem:
    """Activates, passivates and stops actors addressed by ``(kind, key)``."""

    def __init__(
        self,
        *,
        mailbox_size: int = 1024,
        idle_timeout_s: float | None = 60.0,
        name: str = "tpf",
    ) -> None:
        self._mailbox_size = mailbox_size
        self._idle_timeout_s = idle_timeout_s
        self._name = name
        self._factories: dict[str, Callable[[Hashable], Actor[Any]]] = {}
        self._acts: dict[_Key, _Activation] = {}
        # Tasks detached from the registry but still running on_stop: a new activation of the
        # same key waits for them, so two instances never touch the same state at once.
        self._retiring: dict[_Key, asyncio.Task[None]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False
        self._activations = self._crashes = self._passivations = 0
        self._handled = 0  # messages handled, for run_until_idle's "did anything happen"

    def register(self, kind: str, factory: Callable[[Hashable], Actor[Any]]) -> None:
        self._factories[kind] = factory

    # -- sending -----------------------------------------------------------------------------

    async def tell(self, kind: str, key: Hashable, message: Message) -> None:
        """Deliver without waiting for an answer; waits for mailbox space (backpressure)."""
        await self._deliver(kind, key, (message, None))

    def try_tell(self, kind: str, key: Hashable, message: Message) -> bool:
        """Deliver if the mailbox has room; False when it is full or the system is stopped."""
        if self._closed:
            return False
        try:
            self._activation(kind, key).queue.put_nowait((message, None))
        except asyncio.QueueFull:
            return False
        return True

    async def ask(self, kind: str, key: Hashable, message: Ask[R], *, timeout_s: float) -> R:
        """Send and await the answer; the timeout covers waiting for mailbox space too.

        The reply's type comes from the message (``Ask[R]``); the actor's ``receive`` is what
        answers it with an ``R``, which is why the result is cast rather than checked.
        """
        fut: asyncio.Future[object] = asyncio.get_running_loop().create_future()
        deadline = asyncio.timeout(timeout_s)
        try:
            async with deadline:
                await self._deliver(kind, key, (message, fut))
                # A timeout cancels fut; the actor skips replying to a done future.
                return cast(R, await fut)
        except TimeoutError:
            if deadline.expired():  # not a TimeoutError that receive() itself raised
                raise AskTimeout(f"{kind}/{key!r} did not answer within {timeout_s}s") from None
            raise

    async def _deliver(self, kind: str, key: Hashable, item: _Item) -> None:
        while True:
            act = self._activation(kind, key)
            queue = act.queue
            if not queue.full():
                queue.put_nowait(item)
                return
            await queue.put(item)
            if not act.dead:
                return
            # The activation died while we waited for space, so nobody will read our item.
            if self._closed:
                raise ActorStopped(_SYSTEM_STOPPED)

    def _activation(self, kind: str, key: Hashable) -> _Activation:
        k = (kind, key)
        act = self._acts.get(k)
        if act is not None:
            return act
        if self._closed:
            raise ActorStopped(_SYSTEM_STOPPED)
        if kind not in self._factories:
            raise LookupError(f"no actor kind {kind!r} registered")
        act = _Activation(kind, key, self._mailbox_size)
        task = asyncio.get_running_loop().create_task(
            self._run(act, self._retiring.get(k)), name=f"{self._name}:{kind}:{key!r}"
        )
        act.task = task
        self._tasks.add(task)
        task.add_done_callback(lambda t: self._forget(k, t))
        self._acts[k] = act
        self._activations += 1
        return act

    def _forget(self, k: _Key, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if self._retiring.get(k) is task:
            del self._retiring[k]

    # -- the actor task ----------------------------------------------------------------------

    async def _run(self, act: _Activation, predecessor: asyncio.Task[None] | None) -> None:
        try:
            if predecessor is not None:
                await asyncio.wait((predecessor,))  # wait, but never cancel it
            try:
                actor = act.actor = self._factories[act.kind](act.key)
                actor.key, actor.system = act.key, self
                await actor.on_start()
            except Exception as exc:
                await self._crashed(act, exc)
                return
            await self._serve(act, actor)  # returns once idle: already detached
            await self._stop_instance(act)
            self._passivations += 1
        except asyncio.CancelledError:
            # stop() or passivate_idle(): they already failed every pending ask.
            await self._stop_instance(act)
            raise

    async def _crashed(self, act: _Activation, exc: Exception) -> None:
        """The activation could not start: fail its pending asks, leave the key to a fresh one.

        Detached first (synchronously), so a message arriving meanwhile activates a new
        instance, which waits for this task's ``on_stop`` before it starts.
        """
        self._crashes += 1
        log.error("actor %s/%r failed to start", act.kind, act.key, exc_info=exc)
        self._retire(act, f"actor {act.kind}/{act.key!r} failed to start: {exc}", cause=exc)
        await self._stop_instance(act)

    async def _serve(self, act: _Activation, actor: Actor[Any]) -> None:
        """Handle messages until the mailbox stays empty for ``idle_timeout_s`` (passivation)."""
        queue, receive = act.queue, actor.receive
        idle_s = self._idle_timeout_s
        while True:
            if queue.empty():
                if act.dead:  # an actor swallowed stop()'s cancellation
                    raise asyncio.CancelledError
                act.idle = True
                try:
                    if idle_s is None:
                        item = await queue.get()
                    else:
                        try:
                            async with asyncio.timeout(idle_s):
                                item = await queue.get()
                        except TimeoutError:
                            if not queue.empty():  # a put raced the timer; keep serving
                                continue
                            # Same loop step as the emptiness check: no message can slip in
                            # between, later ones go to a fresh activation.
                            self._detach(act)
                            return
                finally:
                    act.idle = False
            else:
                item = queue.get_nowait()
            message, fut = item
            act.current, act.handling = fut, True
            try:
                result = await receive(message)
            except Exception as exc:
                if fut is None and isinstance(exc, StoreUnavailable):
                    # Logged once by the store (tpf.stores.health), not once per message.
                    log.debug("actor %s/%r: the state store is unavailable", act.kind, act.key)
                elif fut is None:
                    log.exception("actor %s/%r failed on a told message", act.kind, act.key)
                elif not fut.done():  # done = the asker timed out
                    fut.set_exception(exc)
            else:
                if fut is not None and not fut.done():
                    fut.set_result(result)
            act.current, act.handling = None, False
            self._handled += 1
            queue.task_done()

    async def _stop_instance(self, act: _Activation) -> None:
        actor, act.actor = act.actor, None  # never call on_stop twice on one instance
        if actor is None:
            return
        try:
            await actor.on_stop()
        except Exception:
            log.exception("on_stop of actor %s/%r failed", act.kind, act.key)

    def _detach(self, act: _Activation) -> None:
        k = (act.kind, act.key)
        if self._acts.get(k) is act:
            del self._acts[k]
        act.dead = True
        if act.task is not None and not act.task.done():
            self._retiring[k] = act.task

    def _retire(self, act: _Activation, reason: str, cause: Exception | None = None) -> None:
        """Detach and fail every pending ask; synchronous so no put can interleave."""
        self._detach(act)
        pending = [act.current]
        act.current = None
        queue = act.queue
        while not queue.empty():
            _, fut = queue.get_nowait()
            queue.task_done()
            pending.append(fut)
        for fut in pending:
            if fut is not None and not fut.done():
                stopped = ActorStopped(reason)
                stopped.__cause__ = cause
                fut.set_exception(stopped)

    # -- lifecycle ---------------------------------------------------------------------------

    async def passivate_idle(self) -> int:
        """Stop every activation parked on an empty mailbox; returns how many."""
        idle = [a for a in self._acts.values() if a.idle and a.queue.empty()]
        tasks = [a.task for a in idle if a.task is not None]
        for act in idle:
            self._detach(act)
        for task in tasks:
            task.cancel()  # it is parked in queue.get(), so nothing is interrupted
        if tasks:
            await asyncio.wait(tasks)
        self._passivations += len(idle)
        return len(idle)

    async def stop(self, *, drain: bool = False, drain_timeout_s: float = 5.0) -> None:
        """Stop every actor; pending asks fail with ActorStopped. Idempotent."""
        if drain and not self._closed:
            await self._drain(drain_timeout_s)
        self._closed = True
        live = list(self._acts.values())
        for act in live:
            self._retire(act, _SYSTEM_STOPPED)
        for act in live:
            if act.task is not None:
                act.task.cancel()
        # Retiring tasks (passivating, giving up) are not cancelled: let them finish on_stop.
        if self._tasks:
            await asyncio.wait(list(self._tasks))

    async def _drain(self, timeout_s: float) -> None:
        try:
            async with asyncio.timeout(timeout_s):
                await self.quiesce()
        except TimeoutError:
            log.warning("actor system %s: drain timed out after %ss", self._name, timeout_s)

    async def quiesce(self) -> None:
        """Return once no mailbox holds a message and no actor is handling one.

        Loops because handled messages may tell other actors. A handler that never returns
        (a step blocked on something outside) keeps it waiting: callers bound it with a timeout.
        """
        while any(not a.queue.empty() or a.handling for a in self._acts.values()):
            await asyncio.gather(*(a.queue.join() for a in list(self._acts.values())))

    # -- introspection -----------------------------------------------------------------------

    def stats(self) -> dict[str, int]:
        return {
            "activations": self._activations,
            "active": len(self._acts),
            "crashes": self._crashes,
            "mailbox_depth": sum(a.queue.qsize() for a in self._acts.values()),
            "passivations": self._passivations,
        }

    @property
    def messages_handled(self) -> int:
        """Messages handled since the system started (a progress mark, not a metric)."""
        return self._handled

    def is_active(self, kind: str, key: Hashable) -> bool:
        return (kind, key) in self._acts

    def busy(self) -> list[tuple[str, Hashable]]:
        """The actors with a message queued or being handled (``tpf.testing``'s idle check)."""
        return [(a.kind, a.key) for a in self._acts.values() if a.handling or not a.queue.empty()]

    async def drained(self, kind: str, key: Hashable) -> None:
        """Return once the actor has handled every message it has (at once if it is gone)."""
        act = self._acts.get((kind, key))
        if act is not None:
            await act.queue.join()
