"""Await metrics with the original's names (spec §10), in Prometheus form.

One :class:`AwaitMetrics` per coordinator (on the engine), written by whoever sees the event:
the await dispatcher (dispatched), the awaits supervisor (admitted, latency), the execution
actor (resume released) and the channels' completion consumers (early held, dropped). The
``/q/metrics`` collector turns it into metric families at scrape time (:meth:`collect`), so
nothing here is global and several coordinators in one process never share a count.

Labels: ``step`` and ``transport`` (``interaction-api``, ``sqs``, ``kafka``); a completion
dropped or held before its interaction is known has no step (``""``); drops are labelled by
``transport`` and ``reason`` as in the original. Latency is creation → admission in
milliseconds, the original's unit.
"""

from __future__ import annotations

import bisect
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric

# Milliseconds: a machine answer lands in the first buckets, a human one in the last.
LATENCY_BUCKETS_MS = (
    5,
    10,
    25,
    50,
    100,
    250,
    500,
    1_000,
    2_500,
    5_000,
    10_000,
    30_000,
    60_000,
    300_000,
    1_800_000,
    3_600_000,
    86_400_000,
)

_Labels = tuple[str, str]


@dataclass
class _Histogram:
    counts: list[int] = field(default_factory=lambda: [0] * (len(LATENCY_BUCKETS_MS) + 1))
    total: float = 0.0

    def observe(self, value: float) -> None:
        self.counts[bisect.bisect_left(LATENCY_BUCKETS_MS, value)] += 1
        self.total += value


@dataclass
class AwaitMetrics:
    dispatched: Counter[_Labels] = field(default_factory=Counter)  # (step, transport)
    admitted: Counter[_Labels] = field(default_factory=Counter)
    early_held: Counter[_Labels] = field(default_factory=Counter)
    resume_released: Counter[_Labels] = field(default_factory=Counter)
    dropped: Counter[_Labels] = field(default_factory=Counter)  # (transport, reason)
    latency: dict[_Labels, _Histogram] = field(default_factory=dict)

    def observe_latency(self, step: str, transport: str, latency_ms: float) -> None:
        self.latency.setdefault((step, transport), _Histogram()).observe(max(0.0, latency_ms))

    def collect(self) -> Iterator[Metric]:
        step_transport = ["step", "transport"]
        for name, help_text, counts, labels in (
            (
                "tpf_await_interaction_dispatched",
                "Await requests published to their channel",
                self.dispatched,
                step_transport,
            ),
            (
                "tpf_await_completion_admitted",
                "Await completions admitted (first writer)",
                self.admitted,
                step_transport,
            ),
            (
                "tpf_await_completion_early_held",
                "Channel completions held durably until their interaction is stored",
                self.early_held,
                step_transport,
            ),
            (
                "tpf_await_resume_released",
                "Executions resumed by a resolved await",
                self.resume_released,
                step_transport,
            ),
            (
                "tpf_await_completion_dropped",
                "Channel completions that could not be admitted (dead-lettered)",
                self.dropped,
                ["transport", "reason"],
            ),
        ):
            family = CounterMetricFamily(name, help_text, labels=labels)
            for key, value in sorted(counts.items()):
                family.add_metric(list(key), value)
            yield family
        histogram = HistogramMetricFamily(
            "tpf_await_completion_latency",
            "Await interaction creation to completion admission, in milliseconds",
            labels=step_transport,
        )
        for key, hist in sorted(self.latency.items()):
            cumulative, buckets = 0, []
            for bound, count in zip((*LATENCY_BUCKETS_MS, float("inf")), hist.counts, strict=True):
                cumulative += count
                buckets.append(("+Inf" if bound == float("inf") else str(bound), cumulative))
            histogram.add_metric(list(key), buckets, hist.total)
        yield histogram
