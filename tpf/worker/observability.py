"""What a worker process tells its operator: ``/q/health`` and ``/q/metrics``.

Health, at the coordinator's paths (the original's Quarkus ones): ``/q/health/live`` is ``UP``
while the process answers; ``/q/health/ready`` (and ``/q/health``) is ``UP`` only while it
serves its protocol, is not draining, has registered its lifecycle records (when it was given
tenants) and its shared nonce store answers (a worker that cannot check nonces refuses every
request, so a load balancer should send none), else ``503 DOWN``.

Metrics, Prometheus text from a private registry (several workers in one test process never
collide), read at scrape time from what the parts count anyway:

- ``tpf_worker_transitions_total{outcome}``: transitions run, by result outcome;
- ``tpf_worker_transition_failures_total{retryable}``: the ``FAILED`` ones, by whether the
  coordinator will retry them;
- ``tpf_worker_refusals_total{reason}``: requests refused before running anything: signature
  reasons (``missing``, ``timestamp``, ``stale``, ``signature``, ``replayed``),
  ``signature_check_unavailable`` (the nonce store failed), ``draining``, ``malformed``,
  ``no_code``, ``identity_mismatch``;
- ``tpf_worker_transitions_in_flight``, ``tpf_worker_draining``, ``tpf_worker_ready``;
- ``tpf_worker_hosted_info{pipeline_id, contract_version, release_version, protocol}``.

With ``tpf.http.metrics-token`` set, ``/q/metrics`` needs ``Authorization: Bearer <token>``
(401 without), as on the coordinator.

Signature refusals are the :class:`Verifier`'s own counts, the same for every protocol.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Awaitable, Callable, Iterator

import orjson
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from tpf.core.bearer import bearer_refusal
from tpf.transports.workers.remote.host import WorkerHost
from tpf.transports.workers.remote.signing import Verifier

__all__ = ["WorkerCollector", "add_probe_routes"]

OUTCOMES = ("COMPLETED", "WAITING_EXTERNAL", "FAILED")


class WorkerCollector:
    """A prometheus_client Collector over one worker process's parts."""

    def __init__(
        self,
        host: WorkerHost,
        verifier: Verifier | None,
        *,
        protocol: str,
        ready: Callable[[], bool],
    ) -> None:
        self._host = host
        self._verifier = verifier
        self._protocol = protocol
        self._ready = ready

    def collect(self) -> Iterator[Metric]:
        counts = self._host.counts
        transitions = CounterMetricFamily(
            "tpf_worker_transitions", "Transitions run, by outcome", labels=["outcome"]
        )
        for outcome in OUTCOMES:
            transitions.add_metric([outcome], counts.get(outcome, 0))
        yield transitions
        failures = CounterMetricFamily(
            "tpf_worker_transition_failures",
            "FAILED transitions, by whether the coordinator retries them",
            labels=["retryable"],
        )
        retryable = counts.get("FAILED_RETRYABLE", 0)
        failures.add_metric(["true"], retryable)
        failures.add_metric(["false"], counts.get("FAILED", 0) - retryable)
        yield failures
        refusals = CounterMetricFamily(
            "tpf_worker_refusals", "Requests refused before anything ran", labels=["reason"]
        )
        reasons: Counter[str] = Counter()
        if self._verifier is not None:
            for reason, n in self._verifier.refusals.items():
                reasons["signature_check_unavailable" if reason == "unavailable" else reason] += n
        for key, n in counts.items():
            if key.startswith("refused:"):
                reasons[key.removeprefix("refused:")] += n
        for reason, n in sorted(reasons.items()):
            refusals.add_metric([reason], n)
        yield refusals
        yield GaugeMetricFamily(
            "tpf_worker_transitions_in_flight",
            "Transitions running now",
            value=self._host.in_flight,
        )
        yield GaugeMetricFamily(
            "tpf_worker_draining", "1 once the worker drains", value=int(self._host.draining)
        )
        yield GaugeMetricFamily(
            "tpf_worker_ready", "1 while the worker takes transitions", value=int(self._ready())
        )
        info = GaugeMetricFamily(
            "tpf_worker_hosted_info",
            "The code this worker hosts",
            labels=["pipeline_id", "contract_version", "release_version", "protocol"],
        )
        for worker in self._host.workers.all():
            info.add_metric([*worker.identity, self._protocol], 1)
        yield info


_TOKEN_KEY = "tpf.http.metrics-token"


def _unauthorized(message: str) -> web.Response:
    # The coordinator edge's error shape and challenge, so one scraper config serves both.
    body = orjson.dumps({"error": {"code": "UNAUTHORIZED", "message": message}})
    response = web.Response(status=401, body=body, content_type="application/json")
    response.headers["WWW-Authenticate"] = 'Bearer realm="tpf"'
    return response


def _health(up: bool) -> web.Response:
    body = orjson.dumps({"status": "UP" if up else "DOWN"})
    return web.Response(status=200 if up else 503, body=body, content_type="application/json")


def add_probe_routes(
    app: web.Application,
    collector: WorkerCollector,
    ready: Callable[[], Awaitable[bool]],
    *,
    metrics_token: str | None = None,
) -> None:
    """``/q/health``, ``/q/health/live``, ``/q/health/ready`` and ``/q/metrics`` on ``app``;
    ``/q/metrics`` needs ``metrics_token`` as a bearer token when one is given."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)

    async def live(_: web.Request) -> web.Response:
        return _health(True)

    async def readiness(_: web.Request) -> web.Response:
        return _health(await ready())

    async def metrics(request: web.Request) -> web.Response:
        if metrics_token is not None:
            refusal = bearer_refusal(
                request.headers.get("Authorization", ""),
                metrics_token,
                route="/q/metrics",
                hint=f"send 'Authorization: Bearer <token>' with the token set by {_TOKEN_KEY}",
            )
            if refusal is not None:
                return _unauthorized(refusal)
        body = generate_latest(registry)
        response = web.Response(body=body)
        response.headers["Content-Type"] = CONTENT_TYPE_LATEST
        return response

    app.router.add_get("/q/health/live", live, allow_head=False)
    app.router.add_get("/q/health/ready", readiness, allow_head=False)
    app.router.add_get("/q/health", readiness, allow_head=False)
    app.router.add_get("/q/metrics", metrics, allow_head=False)
