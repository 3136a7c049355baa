"""Test helpers that need more than the harness: waiting on a predicate over commits."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

from tests.engine.harness import TENANT, Harness
from tpf.actors.context import EXECUTION
from tpf.core.records import ExecutionRecord, ExecutionStatus

_IN_FLIGHT = (ExecutionStatus.QUEUED, ExecutionStatus.RUNNING)
STORE_OVERRIDES: dict[str, dict[str, str]] = {
    "memory": {},
    "sqlite": {
        "state__provider": "sqlite",
        "workers__lifecycle_provider": "sqlite",
        "releases__registry_provider": "file",
    },
}


async def wait_until(
    h: Harness,
    execution_id: str,
    predicate: Callable[[ExecutionRecord], bool],
    *,
    tenant: str = TENANT,
    timeout_s: float = 5.0,
) -> ExecutionRecord:
    """The execution once a commit in this process satisfies ``predicate`` (or it already does).

    Unlike ``Harness.settle`` this fails (TimeoutError) instead of returning the current record,
    and it can wait for a *later* record in the same status (e.g. the next WAIT_RETRY).
    """
    watchers = h.coordinator.engine.watchers
    key = (tenant, execution_id)
    future = watchers.add(key, predicate)
    try:
        record = await h.coordinator.status(tenant, execution_id)
        if predicate(record):
            return record
        return await asyncio.wait_for(asyncio.shield(future), timeout_s)
    finally:
        watchers.discard(key, future)


def settled_after(version: int) -> Callable[[ExecutionRecord], bool]:
    """A record committed after ``version`` that is not merely claimed or queued."""
    return lambda record: record.version > version and record.status not in _IN_FLIGHT


class _Barrier:
    """A message no actor understands: answered (with a TypeError) in mailbox order."""


async def barrier(h: Harness, execution_id: str, *, tenant: str = TENANT) -> None:
    """Return once the execution's actor has handled every message sent to it before.

    Store I/O (SQLite runs in a thread) can take more than a few event-loop turns, so tests wait
    on the actor's mailbox order instead of ``Harness.idle``.
    """
    with contextlib.suppress(TypeError):
        await h.coordinator.system.ask(EXECUTION, (tenant, execution_id), _Barrier(), timeout_s=5.0)
