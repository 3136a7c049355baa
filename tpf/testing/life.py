"""One incarnation of a coordinator under test: its crash hook, its tasks, its gate to the store.

A :class:`Life` is what a SIGKILL ends. Everything the coordinator does runs in tasks created
under the life's context (:meth:`Life.spawn`), so the task factory installed by
:func:`track_tasks` knows them all, and :mod:`tpf.core.crash_points` finds the life's hook in
each of them. When an armed point is reached, :meth:`Life.crash` closes the gate (no later store
call, DLQ publish or dispatch of this coordinator gets through), cancels every task of the life
and raises :class:`SimulatedCrash` where the point was passed: nothing of the coordinator's
memory survives, and nothing it would still do reaches the store, which is what a killed process
leaves behind. The stores themselves (memory objects, SQLite files) are untouched.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections import Counter
from collections.abc import Awaitable, Callable, Coroutine, Generator
from contextlib import contextmanager
from typing import Any, TypeVar

from tpf.core import crash_points

T = TypeVar("T")

_LIFE: contextvars.ContextVar[Life | None] = contextvars.ContextVar("tpf_test_life", default=None)


class SimulatedCrash(BaseException):
    """Raised where a crashed coordinator's code would have run on: a BaseException, so no
    ``except Exception`` of the coordinator treats the death as a failure to recover from."""


class CoordinatorCrashed(Exception):
    """The coordinator died (an armed crash point) while serving this call; ``point`` names
    where. Its answer never came, as for a client of a killed process: restart, then retry."""

    def __init__(self, point: str | None) -> None:
        super().__init__(f"the coordinator crashed at {point or 'an earlier crash point'}")
        self.point = point


class Life:
    """The crash hook and the tasks of one coordinator incarnation."""

    def __init__(self, name: str, seen: Counter[str]) -> None:
        self.name = name
        self.seen = seen  # shared by every life of an env: the points clean runs pass
        self.tasks: set[asyncio.Task[Any]] = set()
        self.crashed_at: str | None = None
        self.dead = False
        self._armed: dict[str, int] = {}
        self._passes: Counter[str] = Counter()

    def arm(self, point: str, nth: int = 1) -> None:
        """Crash the ``nth`` time (counted from now) this life passes ``point``."""
        if point not in crash_points.ALL:
            raise ValueError(f"unknown crash point {point!r}; known: {', '.join(crash_points.ALL)}")
        if nth < 1:
            raise ValueError("nth counts from 1")
        self._armed[point] = self._passes[point] + nth

    def disarm(self) -> None:
        self._armed.clear()

    def passed(self, point: str) -> None:
        """The crash hook: count the point, and die at an armed one."""
        if self.dead:
            raise SimulatedCrash(point)  # a task that outlived the crash stops here too
        self.seen[point] += 1
        self._passes[point] += 1
        if self._armed.get(point) == self._passes[point]:
            self.crash(point)

    def check(self) -> None:
        """Refuse to go on for a dead life (the gates call this around every store call)."""
        if self.dead:
            raise SimulatedCrash(self.crashed_at)

    def crash(self, point: str) -> None:
        """Die now, as a SIGKILL at ``point``: gate closed, every task cancelled."""
        self.dead = True
        self.crashed_at = point
        current = asyncio.current_task()
        for task in list(self.tasks):
            if task is not current:
                task.cancel()
        raise SimulatedCrash(point)

    def kill(self) -> None:
        """Die outside any crash point (``TestEnv.kill``): the same, from the test's task."""
        if self.dead:
            return
        self.dead = True
        self.crashed_at = "kill"
        for task in list(self.tasks):
            task.cancel()

    @contextmanager
    def entered(self) -> Generator[None]:
        """Run the block in this life's context: tasks created in it belong to the life."""
        life_token = _LIFE.set(self)
        hook_token = crash_points.install(self.passed)
        try:
            yield
        finally:
            crash_points.uninstall(hook_token)
            _LIFE.reset(life_token)

    def spawn(self, coro: Coroutine[Any, Any, T]) -> asyncio.Task[T]:
        """A task of this life running ``coro`` (it dies with the life)."""
        with self.entered():
            return asyncio.ensure_future(coro)

    async def call(self, fn: Callable[[], Awaitable[T]]) -> T:
        """``await fn()`` inside the life; :class:`CoordinatorCrashed` if the life dies first."""
        if self.dead:
            raise CoordinatorCrashed(self.crashed_at)

        async def run() -> T:
            return await fn()

        task = self.spawn(run())
        try:
            return await task
        except (asyncio.CancelledError, SimulatedCrash):
            current = asyncio.current_task()
            if self.dead and not (current is not None and current.cancelling()):
                raise CoordinatorCrashed(self.crashed_at) from None
            raise

    async def buried(self, timeout_s: float = 5.0) -> None:
        """Wait until every task of the dead life has ended (none may write after this)."""
        pending = [t for t in self.tasks if not t.done()]
        if pending:
            await asyncio.wait(pending, timeout=timeout_s)


def track_tasks(loop: asyncio.AbstractEventLoop) -> Callable[[], None]:
    """Install a task factory that files every task created inside a life under it; returns
    the function that puts the previous factory back."""
    previous = loop.get_task_factory()

    def factory(
        loop: asyncio.AbstractEventLoop,
        coro: Any,
        context: contextvars.Context | None = None,
    ) -> asyncio.Future[Any]:
        if previous is None:
            task: asyncio.Future[Any] = asyncio.Task(coro, loop=loop, context=context)
        elif context is None:
            task = previous(loop, coro)
        else:
            extra: Any = previous  # 3.11's stub of a task factory lacks ``context``
            task = extra(loop, coro, context=context)
        life = (context or contextvars.copy_context()).get(_LIFE)
        if life is not None and isinstance(task, asyncio.Task):
            life.tasks.add(task)
            task.add_done_callback(life.tasks.discard)
            task.add_done_callback(_retrieve_crash)
        return task

    loop.set_task_factory(factory)
    return lambda: loop.set_task_factory(previous)


def _retrieve_crash(task: asyncio.Future[Any]) -> None:
    """A task that died of the simulated crash ends with it: that is no error to report."""
    if not task.cancelled() and isinstance(task.exception(), SimulatedCrash):
        return  # retrieved: asyncio no longer logs "exception was never retrieved"
