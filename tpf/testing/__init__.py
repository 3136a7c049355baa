"""``tpf.testing``: test your pipelines with the coordinator itself, crashes included.

:class:`TestEnv` runs a coordinator in process on the memory or SQLite store, on a fake clock
that also drives the timers (``await env.advance("PT30M")``), with helpers to submit, list and
complete interactions, re-drive, and read the DLQ. ``env.crash_at(point)`` kills the coordinator
at one of the named :data:`CRASH_POINTS` as a SIGKILL would; ``env.restart()`` and
``env.takeover()`` bring up a fresh one on the same store. ``TestEnv(pipeline,
broker=MemoryBroker())`` runs the await channel in process (:mod:`tpf.testing.channel`).
:class:`Cluster` runs several coordinators on one store, each on its own skewed clock, and cuts
one from the store (``partition``) to show fencing. It needs no pytest plugin beyond
pytest-asyncio (or any asyncio runner).
"""

from tpf.core import crash_points
from tpf.testing.channel import MemoryBroker
from tpf.testing.cluster import Cluster, ClusterNode
from tpf.testing.env import TestEnv
from tpf.testing.faults import WorkerUnavailable
from tpf.testing.gate import RecordingSink
from tpf.testing.life import CoordinatorCrashed, SimulatedCrash
from tpf.testing.skew import SkewedClock

#: What each crash point means: the coordinator dies right there.
CRASH_POINTS: dict[str, str] = {
    crash_points.EXECUTION_CREATE: "a submit's execution record is stored, not yet run",
    crash_points.LEASE_CLAIM: "a transition's lease is claimed, the worker not yet called",
    crash_points.MID_TRANSITION: "the worker answered, its result is not committed",
    crash_points.SUCCESS_COMMIT: "the SUCCEEDED commit is stored",
    crash_points.FAILURE_COMMIT: "a retry or a terminal failure is stored, before the retry is "
    "enqueued or the DLQ envelope published (between commit and publish)",
    crash_points.INTERACTION_WRITE: "an await's interaction is stored, the execution not yet "
    "parked on it nor the request dispatched",
    crash_points.PARK_COMMIT: "the execution is parked (WAITING_EXTERNAL), before the resolved "
    "check and the dispatch (between park and dispatch)",
    crash_points.RESUME_COMMIT: "a completion resumed the execution, its interaction not yet "
    "marked applied",
    crash_points.AWAIT_FAIL_COMMIT: "a timed-out await failed the execution, before the DLQ "
    "publish",
    crash_points.MARK_APPLIED: "an interaction is marked applied to its execution",
    crash_points.REDRIVE_COMMIT: "an operator's re-drive is stored, not yet run",
    crash_points.COMPLETION_ACCEPT: "a completion is accepted (first writer won), not yet "
    "applied to its execution",
    crash_points.COMPLETION_HOLD: "an early completion is held durably",
    crash_points.COMPLETION_CONSUMED: "a completion arrived from a transport (SQS, Kafka), "
    "not yet admitted (between consume and apply)",
    crash_points.TIMEOUT_WRITE: "an overdue await is timed out, its execution not yet told",
    crash_points.DLQ_PUBLISH: "a DLQ envelope is published, its outbox mark not yet cleared",
    crash_points.DLQ_CLEAR: "a DLQ envelope's outbox mark is cleared",
    crash_points.AWAIT_PUBLISH: "an await request is published to its channel, not yet marked "
    "dispatched",
    crash_points.AWAIT_MARK_DISPATCHED: "an await request is marked dispatched",
    crash_points.LEASE_RENEW: "a lease renewal is stored, not yet noted by the lease keeper",
    crash_points.ITEMS_WRITE: "a page of an expansion's items is stored",
    crash_points.ITEM_INTERACTION_WRITE: "a stream item's interaction is stored, the item not "
    "yet marked awaiting",
    crash_points.ITEM_WRITE: "a stream item's state (awaiting, done with its output) is stored",
    crash_points.ITEM_MARK_APPLIED: "a stream item's interaction is marked applied",
    crash_points.PHASE_COMMIT: "a stream phase (expanded, items done) is committed",
}

__all__ = [
    "CRASH_POINTS",
    "Cluster",
    "ClusterNode",
    "CoordinatorCrashed",
    "MemoryBroker",
    "RecordingSink",
    "SimulatedCrash",
    "SkewedClock",
    "TestEnv",
    "WorkerUnavailable",
]
