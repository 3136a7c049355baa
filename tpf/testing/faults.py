"""Worker outages for tests: a hosted worker that answers a transport failure while it is down.

A retryable failure the step code never raises, as from a remote worker that is unreachable:
the execution retries with backoff and, while the outage lasts, exhausts its retries into the
DLQ. The outage is the test's state, not the coordinator's (it survives a crash and restart), and
it is decided per execution, so a transition re-run after a crash meets the same outage.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tpf.authoring.item_steps import Pages
from tpf.core.records import TransitionCommand, TransitionResult
from tpf.transports.workers.local import ItemSink, LocalTransitionWorker, failure_result


class WorkerUnavailable(ConnectionError):
    """The failure an outage answers with (retryable, as a transport error)."""


@dataclass
class Outages:
    """Which executions the hosted worker is down for (``everything``: all of them)."""

    everything: bool = False
    executions: set[str] = field(default_factory=set)

    def down_for(self, execution_id: str) -> bool:
        return self.everything or execution_id in self.executions


def outage_worker(outages: Outages) -> type[LocalTransitionWorker]:
    """A :class:`LocalTransitionWorker` type that fails every transition ``outages`` covers."""

    class OutageWorker(LocalTransitionWorker):
        async def execute(
            self,
            command: TransitionCommand,
            pages: Pages | None = None,
            sink: ItemSink | None = None,
        ) -> TransitionResult:
            if outages.down_for(command.execution_id):
                return failure_result(
                    WorkerUnavailable("worker unavailable (TestEnv.break_worker)"), retryable=True
                )
            return await super().execute(command, pages, sink)

    return OutageWorker
