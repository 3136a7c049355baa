"""Prometheus metrics at ``/q/metrics``, read from the coordinator at scrape time.

The engine already counts what happens (``engine.counters``) and the actor system knows its
own state, so instead of instrumenting call sites again a custom Collector turns those into
metric families on each scrape. Each app has a private registry: nothing global, so several
coordinators (tests) in one process never collide. Signals the original leaves to the platform
(spec §10 GAP) are here: executions by status, parked executions, held completions, actor
mailbox depth.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from tpf.coordinator import Coordinator
from tpf.http.wire import EDGE, Route, Surface
from tpf.records import ExecutionStatus

# Actor-system stats that only ever grow are counters; the rest are gauges.
_CUMULATIVE_STATS = frozenset({"activations", "restarts", "passivations"})
_INVALID = re.compile(r"[^a-zA-Z0-9_]")


class CoordinatorCollector:
    """A prometheus_client Collector over one coordinator (refresh, then collect)."""

    def __init__(self, coordinator: Coordinator) -> None:
        self._coordinator = coordinator
        self._by_status: dict[str, int] = {}

    async def refresh(self) -> None:
        # collect() is synchronous, so the store read happens first, on the event loop. On
        # DynamoDB counting is a table Scan, which a scrape every few seconds must not cost:
        # the status gauges are left out there (the counters still move).
        if self._coordinator.settings.state_provider != "dynamo":
            self._by_status = await self._coordinator.stores.executions.count_by_status()

    def collect(self) -> Iterator[Metric]:
        c = self._coordinator
        for name, value in sorted(c.engine.counters.items()):
            counter = CounterMetricFamily(f"tpf_{_metric_name(name)}", f"Engine count: {name}")
            counter.add_metric([], value)
            yield counter
        for name, value in sorted(c.system.stats().items()):
            metric_name = f"tpf_actor_{_metric_name(name)}"
            help_text = f"Actor system: {name}"
            family: Metric
            if name in _CUMULATIVE_STATS:
                family = CounterMetricFamily(metric_name, help_text, value=value)
            else:
                family = GaugeMetricFamily(metric_name, help_text, value=value)
            yield family
        if c.settings.state_provider != "dynamo":
            executions = GaugeMetricFamily(
                "tpf_executions", "Live executions by status", labels=["status"]
            )
            for status in ExecutionStatus:
                executions.add_metric([status.value], self._by_status.get(status.value, 0))
            yield executions
            yield GaugeMetricFamily(
                "tpf_await_pending",
                "Executions parked on an open await interaction",
                value=self._by_status.get(ExecutionStatus.WAITING_EXTERNAL.value, 0),
            )
        yield GaugeMetricFamily(
            "tpf_await_completions_held",
            "Channel completions held until their interaction is stored",
            value=c.awaits.held(),
        )
        yield GaugeMetricFamily("tpf_ready", "1 while the coordinator runs", value=int(c.ready))
        if c.aws is not None:
            requests = CounterMetricFamily(
                "tpf_aws_requests", "AWS API requests sent", labels=["service"]
            )
            for service, count in sorted(c.aws.requests.items()):
                requests.add_metric([service], count)
            yield requests


def _metric_name(name: str) -> str:
    return _INVALID.sub("_", name)


class Metrics:
    """One app's registry and collector."""

    def __init__(self, coordinator: Coordinator) -> None:
        self.collector = CoordinatorCollector(coordinator)
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(self.collector)

    async def render(self) -> bytes:
        await self.collector.refresh()
        return generate_latest(self.registry)


METRICS = web.AppKey("tpf.metrics", Metrics)


async def metrics(request: web.Request) -> web.Response:
    body = await request.app[METRICS].render()
    response = web.Response(body=body)
    response.headers["Content-Type"] = CONTENT_TYPE_LATEST
    return response


def install(app: web.Application) -> None:
    app[METRICS] = Metrics(app[EDGE].coordinator)


ROUTES = (
    Route(
        "GET",
        "/q/metrics",
        metrics,
        Surface.PUBLIC,
        "Prometheus metrics",
        media_type="text/plain",
    ),
)
