"""Prometheus metrics at ``/q/metrics``, read from the coordinator at scrape time.

The engine already counts what happens (``engine.counters``) and the actor system knows its
own state, so instead of instrumenting call sites again a custom Collector turns those into
metric families on each scrape. Each app has a private registry: nothing global, so several
coordinators (tests) in one process never collide. Signals the original leaves to the platform
(spec §10 GAP) are here: executions by status, parked executions, held completions, actor
mailbox depth.

A scrape costs O(statuses) on the embedded stores: the counts by status are kept with every
write (:mod:`tpf.stores.sqlite`, :class:`~tpf.stores.memory.MemoryExecutionStore`), never
grouped at scrape time, so scrapers cannot slow down the SQLite thread submits share. With
``tpf.http.metrics-token`` set the route needs ``Authorization: Bearer <token>`` (401 without),
like the API surfaces, its value a literal or ``env:NAME`` resolved per request.
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Iterator, Mapping

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from tpf.config import resolve_secret
from tpf.coordinator import Coordinator
from tpf.core.errors import ConfigError
from tpf.core.records import ExecutionStatus
from tpf.http.auth import TokenUnavailable, Unauthorized
from tpf.http.wire import EDGE, Route, Surface

# Actor-system stats that only ever grow are counters; the rest are gauges.
_CUMULATIVE_STATS = frozenset({"activations", "crashes", "passivations"})
_INVALID = re.compile(r"[^a-zA-Z0-9_]")


class CoordinatorCollector:
    """A prometheus_client Collector over one coordinator (refresh, then collect)."""

    def __init__(self, coordinator: Coordinator) -> None:
        self._coordinator = coordinator
        self._by_status: dict[str, int] = {}

    async def refresh(self) -> None:
        # collect() is synchronous, so the store read happens first, on the event loop; on the
        # embedded stores it reads counts kept with every write. On DynamoDB counting is a
        # table Scan, which a scrape every few seconds must not cost: the status gauges are
        # left out there (the counters still move).
        if self._coordinator.settings.state.provider != "dynamo":
            self._by_status = await self._coordinator.stores.executions.count_by_status()

    def collect(self) -> Iterator[Metric]:
        c = self._coordinator
        for name, value in sorted(c.engine.counters.items()):
            counter = CounterMetricFamily(f"tpf_{_metric_name(name)}", f"Engine count: {name}")
            counter.add_metric([], value)
            yield counter
        yield from c.engine.await_metrics.collect()  # spec §10 names, labelled
        for name, value in sorted(c.system.stats().items()):
            metric_name = f"tpf_actor_{_metric_name(name)}"
            help_text = f"Actor system: {name}"
            family: Metric
            if name in _CUMULATIVE_STATS:
                family = CounterMetricFamily(metric_name, help_text, value=value)
            else:
                family = GaugeMetricFamily(metric_name, help_text, value=value)
            yield family
        if c.settings.state.provider != "dynamo":
            executions = GaugeMetricFamily(
                "tpf_executions",
                "Stored executions by status (terminal ones until retention deletes them)",
                labels=["status"],
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
        lags = [
            lag()
            for channel in c.await_lane.channels()
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


_TOKEN_KEY = "tpf.http.metrics-token"


class Metrics:
    """One app's registry and collector, and the route's optional token."""

    def __init__(self, coordinator: Coordinator, environ: Mapping[str, str]) -> None:
        self.collector = CoordinatorCollector(coordinator)
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(self.collector)
        self._token = coordinator.settings.http.metrics_token
        self._environ = environ

    def authorize(self, request: web.Request) -> None:
        """Refuse the scrape unless it carries the configured token (when one is set)."""
        if not self._token:
            return
        try:
            expected = resolve_secret(self._token, self._environ)
        except ConfigError as exc:
            raise TokenUnavailable(f"{_TOKEN_KEY} is unavailable: {exc.message}") from None
        header = request.headers.get("Authorization", "")
        scheme, _, given = header.partition(" ")
        hint = f"send 'Authorization: Bearer <token>' with the token set by {_TOKEN_KEY}"
        if not header:
            raise Unauthorized(f"missing Authorization header: {hint}")
        if scheme.lower() != "bearer" or not given.strip():
            raise Unauthorized(f"malformed Authorization header: {hint}")
        # Bytes, surrogates kept: a header is not always ASCII, and must not make this fail.
        if not hmac.compare_digest(
            given.strip().encode("utf-8", "surrogateescape"), expected.encode()
        ):
            raise Unauthorized(f"invalid bearer token for /q/metrics: {hint}")

    async def render(self) -> bytes:
        await self.collector.refresh()
        return generate_latest(self.registry)


METRICS = web.AppKey("tpf.metrics", Metrics)


async def metrics(request: web.Request) -> web.Response:
    edge_metrics = request.app[METRICS]
    edge_metrics.authorize(request)
    body = await edge_metrics.render()
    response = web.Response(body=body)
    response.headers["Content-Type"] = CONTENT_TYPE_LATEST
    return response


def install(app: web.Application, environ: Mapping[str, str]) -> None:
    app[METRICS] = Metrics(app[EDGE].coordinator, environ)


ROUTES = (
    Route(
        "GET",
        "/q/metrics",
        metrics,
        Surface.PUBLIC,
        "Prometheus metrics (with tpf.http.metrics-token set: Bearer token required)",
        media_type="text/plain",
        errors=(401,),
    ),
)
