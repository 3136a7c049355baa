"""The ``/q/metrics`` Collector: the engine's registries plus gauges read at scrape time.

Events are counted where they happen (``engine.counters``, ``engine.await_metrics``,
``engine.metrics``: :mod:`tpf.actors.metrics`); state is read once per scrape into a
:class:`~tpf.http.metrics.snapshot.Snapshot` (kept counts and limit-1 index reads, never a
listing of executions) and turned into gauge families here. Signals the original leaves to
the platform (spec §10 GAP) are here too: executions by status, queue depth and oldest due
work, the earliest pending await deadline, the active release per pipeline and worker
lifecycle records by state.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from tpf.coordinator import Coordinator
from tpf.core.records import ExecutionStatus
from tpf.http.metrics import snapshot
from tpf.http.metrics.snapshot import Snapshot

# Actor-system stats that only ever grow are counters; the rest are gauges.
_CUMULATIVE_STATS = frozenset({"activations", "crashes", "passivations"})
_INVALID = re.compile(r"[^a-zA-Z0-9_]")


def _metric_name(name: str) -> str:
    return _INVALID.sub("_", name)


class CoordinatorCollector:
    """A prometheus_client Collector over one coordinator (refresh, then collect)."""

    def __init__(self, coordinator: Coordinator) -> None:
        self._coordinator = coordinator
        self._snapshot = Snapshot()

    async def refresh(self) -> None:
        self._snapshot = await snapshot.take(self._coordinator)

    def collect(self) -> Iterator[Metric]:
        c = self._coordinator
        for name, value in sorted(c.engine.counters.items()):
            counter = CounterMetricFamily(f"tpf_{_metric_name(name)}", f"Engine count: {name}")
            counter.add_metric([], value)
            yield counter
        yield from c.engine.await_metrics.collect()  # spec §10 names, labelled
        yield from c.engine.metrics.registry.collect()  # spec §10 names, labelled
        for name, value in sorted(c.system.stats().items()):
            metric_name = f"tpf_actor_{_metric_name(name)}"
            help_text = f"Actor system: {name}"
            family: Metric
            if name in _CUMULATIVE_STATS:
                family = CounterMetricFamily(metric_name, help_text, value=value)
            else:
                family = GaugeMetricFamily(metric_name, help_text, value=value)
            yield family
        yield from self._state(self._snapshot)
        yield GaugeMetricFamily(
            "tpf_await_completions_held",
            "Channel completions held until their interaction is stored",
            value=c.awaits.held(),
        )
        yield from self._kafka_lag()
        yield GaugeMetricFamily("tpf_ready", "1 while the coordinator runs", value=int(c.ready))
        if c.aws is not None:
            requests = CounterMetricFamily(
                "tpf_aws_requests", "AWS API requests sent", labels=["service"]
            )
            for service, count in sorted(c.aws.requests.items()):
                requests.add_metric([service], count)
            yield requests

    def _state(self, snap: Snapshot) -> Iterator[Metric]:
        executions = GaugeMetricFamily(
            "tpf_executions",
            "Stored executions by status (terminal ones until retention deletes them)",
            labels=["status"],
        )
        for status in ExecutionStatus:
            executions.add_metric([status.value], snap.by_status.get(status.value, 0))
        yield executions
        yield GaugeMetricFamily(
            "tpf_await_pending",
            "Executions parked on an open await interaction",
            value=snap.by_status.get(ExecutionStatus.WAITING_EXTERNAL.value, 0),
        )
        yield GaugeMetricFamily(
            "tpf_work_queue_depth",
            "Work items this coordinator's queue holds, due or not (approximate for SQS)",
            value=self._coordinator.engine.queue.depth(),
        )
        age_s = 0.0
        if snap.oldest_due_epoch_ms is not None:
            age_s = max(0, snap.now_ms - snap.oldest_due_epoch_ms) / 1000.0
        yield GaugeMetricFamily(
            "tpf_work_queue_oldest_message_age_seconds",
            "How long the longest-due execution in the store's due index has waited to be "
            "claimed (0 when nothing is due): the oldest work the queue should be carrying",
            value=age_s,
        )
        if snap.earliest_deadline_epoch_ms is not None:
            yield GaugeMetricFamily(
                "tpf_await_pending_oldest_deadline_timestamp_seconds",
                "Deadline of the pending await interaction that expires first (epoch seconds; "
                "absent when none is pending)",
                value=snap.earliest_deadline_epoch_ms / 1000.0,
            )
        active = GaugeMetricFamily(
            "tpf_release_active_info",
            "The active release of each pipeline seen (value 1, identity in the labels)",
            labels=["tenant", "pipeline", "releaseVersion", "contractVersion"],
        )
        for release in snap.active_releases:
            active.add_metric(
                [
                    release.tenant_id,
                    release.pipeline_id,
                    release.release_version,
                    release.contract_version,
                ],
                1,
            )
        yield active
        workers = GaugeMetricFamily(
            "tpf_worker_lifecycle_records",
            "Worker lifecycle records by tenant, pipeline, release and derived state",
            labels=["tenant", "pipeline", "releaseVersion", "state"],
        )
        for key, count in sorted(snap.workers.items()):
            workers.add_metric(list(key), count)
        yield workers

    def _kafka_lag(self) -> Iterator[Metric]:
        lags = [
            lag()
            for channel in self._coordinator.await_lane.channels()
            if callable(lag := getattr(channel, "lag", None))  # Kafka: per assigned partition
        ]
        if lags:
            family = GaugeMetricFamily(
                "tpf_await_kafka_consumer_lag",
                "Completion records on the broker this coordinator has not fetched yet",
                labels=["topic", "partition"],
            )
            merged = {tp: behind for lag in lags for tp, behind in lag.items()}
            for (topic, partition), behind in sorted(merged.items()):
                family.add_metric([topic, str(partition)], behind)
            yield family
