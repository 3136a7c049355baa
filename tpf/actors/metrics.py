"""The engine's event metrics in the original's names (spec §10), on a per-engine registry.

One :class:`EngineMetrics` per coordinator (``Engine.metrics``), written where the event
happens: the transition run (dispatched, outcome, duration, transport failures), the terminal
failure commit (failure fingerprints), the sweeper (runs, recoveries, lease takeovers), the
dead-letters supervisor (DLQ publications) and the registry commands (release activations).
They are prometheus_client's standard Counter/Histogram/Gauge types on a private
``CollectorRegistry``, never the global one, so several coordinators in one process (tests)
never share a count; ``/q/metrics`` yields this registry beside its scrape-time gauges.

Label cardinality is bounded here, not left to the scraper: error codes come from pipeline
code and could be anything (a message with an id in it), so a fingerprint ``(errorCode,
stepId)`` is truncated to :data:`LABEL_MAX_CHARS` and only the first
:data:`MAX_FINGERPRINTS` distinct pairs get their own series; later new pairs are counted
under ``errorCode="_other"``, ``stepId="_other"``. The pipelines this coordinator has seen
(activations, registrations, worker events, submits) are remembered up to
:data:`MAX_PIPELINES` for the scrape's per-pipeline gauges (active release, worker records),
which keeps a scrape O(statuses + pipelines).
"""

from __future__ import annotations

import asyncio

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from tpf.core.records import (
    DeadLetterEnvelope,
    ExecutionRecord,
    TransitionResult,
)
from tpf.transports.workers.remote.client import TRANSPORT_FAILURE_CLASS

# Seconds: an in-process step answers in the first buckets, a remote one over a slow network
# or a step that calls out in the middle ones; 60 s is the REST worker's default timeout range.
TRANSITION_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
MAX_FINGERPRINTS = 100
MAX_PIPELINES = 500
LABEL_MAX_CHARS = 64
OTHER = "_other"
TRANSPORT_ERROR_PREFIX = "TRANSITION_WORKER_"


def _label(value: str | None, default: str = "") -> str:
    return (value or default)[:LABEL_MAX_CHARS]


class _Bounded:
    """Label values admitted first come, first served, up to a limit; the rest are ``OTHER``."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._seen: set[tuple[str, ...]] = set()

    def admit(self, key: tuple[str, ...]) -> tuple[str, ...]:
        if key in self._seen:
            return key
        if len(self._seen) >= self._limit:
            return (OTHER,) * len(key)
        self._seen.add(key)
        return key


class EngineMetrics:
    """Counters and histograms of one engine, on :attr:`registry`."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        r = self.registry
        self.transition_dispatched = Counter(
            "tpf_orchestrator_transition_dispatched",
            "Transitions handed to a worker",
            ["protocol"],
            registry=r,
        )
        self.transition_outcome = Counter(
            "tpf_orchestrator_transition_outcome",
            "Transition results by outcome (completed, waiting_external, failed, lease_lost)",
            ["outcome"],
            registry=r,
        )
        self.transition_duration = Histogram(
            "tpf_orchestrator_transition_duration",
            "Worker protocol latency: a transition's call to its worker, in seconds",
            ["protocol"],
            buckets=TRANSITION_BUCKETS_S,
            registry=r,
        )
        # Streams (issue 13): from an item's answer being admitted to its output being stored.
        self.item_apply_latency = Histogram(
            "tpf_stream_item_apply_latency",
            "Itemized awaits: seconds from an item's completion admitted to its output stored",
            buckets=(0.001, 0.0025, *TRANSITION_BUCKETS_S),
            registry=r,
        )
        self.items_done = Counter(
            "tpf_stream_items_done", "Stream items whose output was stored", registry=r
        )
        self.items_in_flight = Gauge(
            "tpf_stream_items_in_flight",
            "Stream items of the runs in this coordinator whose interaction is open",
            registry=r,
        )
        self.transition_active = Gauge(
            "tpf_orchestrator_transition_active",
            "Transitions running in this coordinator now",
            registry=r,
        )
        self.transition_saturated = Counter(
            "tpf_orchestrator_transition_saturated",
            "Transitions that had to wait for a free slot (worker.max-in-flight reached)",
            registry=r,
        )
        self.transport_failures = Counter(
            "tpf_worker_transport_failures",
            "Transition calls that got no valid reply from their worker, by category "
            "(timeout, auth, unavailable, remote_server, malformed, protocol, cancelled, "
            "unexpected)",
            ["protocol", "category"],
            registry=r,
        )
        self.failure_fingerprints = Counter(
            "tpf_execution_failure_fingerprint",
            "Executions that ended failed, by error code and failing step "
            f"(at most {MAX_FINGERPRINTS} pairs; later ones count as {OTHER})",
            ["errorCode", "stepId"],
            registry=r,
        )
        self.dlq_publish = Counter(
            "tpf_execution_dlq_publish",
            "DLQ envelopes published to the sink",
            ["provider", "terminalReason", "errorCode", "retryable"],
            registry=r,
        )
        self.lease_takeovers = Counter(
            "tpf_lease_takeovers",
            "Expired leases of running transitions found by the sweeper and re-dispatched",
            registry=r,
        )
        self.sweeper_runs = Counter(
            "tpf_sweeper_runs", "Sweeper passes this coordinator ran as leader", registry=r
        )
        self.sweeper_recoveries = Counter(
            "tpf_sweeper_recoveries",
            "Due executions the sweeper re-dispatched (lost messages, expired leases, retries)",
            registry=r,
        )
        self.sweeper_await_timeouts = Counter(
            "tpf_sweeper_await_timeouts",
            "Overdue await interactions the sweeper timed out",
            registry=r,
        )
        self.release_activations = Counter(
            "tpf_release_activations",
            "Release activation events appended through this coordinator",
            ["tenant", "pipeline"],
            registry=r,
        )
        self._fingerprints = _Bounded(MAX_FINGERPRINTS)
        self._dlq_codes = _Bounded(MAX_FINGERPRINTS)
        self._pipelines: dict[tuple[str, str], None] = {}  # insertion-ordered set

    # ------------------------------------------------------------------ transitions

    def transition_finished(
        self, protocol: str, result: TransitionResult | None, elapsed_ms: int
    ) -> None:
        """Count one worker call: ``result`` ``None`` means the lease was lost meanwhile."""
        self.transition_duration.labels(protocol).observe(max(0, elapsed_ms) / 1000.0)
        if result is None:
            self.transition_outcome.labels("lease_lost").inc()
            return
        self.transition_outcome.labels(result.outcome.value.lower()).inc()
        failure = result.failure
        # Remote clients turn a call without a valid reply into a FAILED result of this class,
        # its category in the error code (tpf.transports.workers.remote.client).
        if failure is not None and failure.failure_class == TRANSPORT_FAILURE_CLASS:
            category = (failure.error_code or "").removeprefix(TRANSPORT_ERROR_PREFIX).lower()
            self.transport_failures.labels(protocol, _label(category, "unexpected")).inc()

    def note_admission(self, slots: asyncio.Semaphore) -> None:
        """A transition is about to take one of ``slots``: count it if it has to wait."""
        if slots.locked():
            self.transition_saturated.inc()

    # ------------------------------------------------------------------ failures and DLQ

    def execution_failed(self, record: ExecutionRecord) -> None:
        """A terminal failure was committed: count its fingerprint."""
        step = record.current_step_id or str(record.current_step_index)
        key = self._fingerprints.admit((_label(record.error_code, "UNKNOWN"), _label(step)))
        self.failure_fingerprints.labels(*key).inc()

    def dlq_published(self, envelope: DeadLetterEnvelope, provider: str) -> None:
        (code,) = self._dlq_codes.admit((_label(envelope.error_code, "UNKNOWN"),))
        self.dlq_publish.labels(
            provider,
            _label(envelope.terminal_reason),
            code,
            str(envelope.retryable).lower(),
        ).inc()

    # ------------------------------------------------------------------ pipelines

    def learn(self, tenant_id: str, pipeline_id: str) -> None:
        """Remember a pipeline for the scrape's per-pipeline gauges (bounded)."""
        key = (tenant_id, pipeline_id)
        if key not in self._pipelines and len(self._pipelines) < MAX_PIPELINES:
            self._pipelines[key] = None

    def release_activated(self, tenant_id: str, pipeline_id: str) -> None:
        self.learn(tenant_id, pipeline_id)
        if (tenant_id, pipeline_id) in self._pipelines:
            self.release_activations.labels(tenant_id, pipeline_id).inc()

    def pipelines(self) -> list[tuple[str, str]]:
        """The pipelines seen, in the order they were first seen."""
        return list(self._pipelines)
