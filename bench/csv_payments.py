"""``python -m bench csv``: the csv-payments demo at scale, end to end.

Three shapes, the provider answering at once (delay 0), window ``pipeline.max-concurrency=25``:

- **HA lanes** (``make demo-csv``'s topology: moto DynamoDB + SQS work queue + S3, one ``tpf
  serve``, one REST ``tpf worker``, the provider process) with ``BENCH_CSV_RECORDS`` records
  (default 10,000) on the SQS lane and on the Kafka lane (Tansu, 25 partitions);
- **embedded SQLite**: ``tpf serve`` on the SQLite default hosting the pipeline itself, the
  provider completing over REST (``provider rest``: pending interactions polled, each
  completed with ``POST /interactions/complete``), ``BENCH_CSV_SQLITE_RECORDS`` records
  (default 100,000);
- **embedded lanes** (``sqlite-sqs``, ``sqlite-kafka``): the same ``tpf serve`` on SQLite, its
  awaits over the SQS lane (moto's SQS only) or the Kafka lane (Tansu), ``BENCH_CSV_RECORDS``
  records: the lanes without moto's DynamoDB, whose per-request cost (a new connection per call,
  queries that walk the whole table) bounds the HA shape on this machine.

Each prints seconds from submit to ``SUCCEEDED``, records/s, the p99 of the coordinator's
``tpf_stream_item_apply_latency`` histogram (answer admitted -> item output stored; a bucket's
upper bound) and the peak RSS (``VmHWM``) of the coordinator (and worker).
``BENCH_CSV_SHAPES`` picks shapes (default: all five); ``BENCH_CSV_TIMEOUT_S``
bounds each run (default 1800). A run that fails prints why and the bench goes on.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from demos.csv_payments import flow
from demos.csv_payments.demo import (
    IDENTITY,
    Options,
    Outcome,
    Target,
    provider_command,
    run,
    run_flow,
)
from demos.csv_payments.pipeline import TENANT
from demos.restaurant_approval.brokers import broker_lane
from demos.restaurant_approval.ha.processes import Child, DemoFailure, child_env, run_tool, tpf
from demos.restaurant_approval.server import TOKEN, DemoServer, free_port
from tpf.client import RestClient

LATENCY = "tpf_stream_item_apply_latency"
SHAPES = ("sqs", "kafka", "sqlite", "sqlite-sqs", "sqlite-kafka")


def figures(label: str, n: int, outcome: Outcome) -> None:
    p99 = flow.histogram_quantile(outcome.metrics, LATENCY, 0.99)
    p50 = flow.histogram_quantile(outcome.metrics, LATENCY, 0.50)
    rss = f"coordinator {_mb(outcome.coordinator_rss_mb)}"
    if outcome.worker_rss_mb is not None:
        rss += f", worker {_mb(outcome.worker_rss_mb)}"
    print(f"{label}, N={n}, window 25, provider delay 0", flush=True)
    print(f"  seconds (submit -> SUCCEEDED)  {outcome.seconds:9.1f}", flush=True)
    print(f"  records/s                      {n / outcome.seconds:9.1f}", flush=True)
    print(f"  item apply latency p50/p99     <= {_s(p50)} / <= {_s(p99)}", flush=True)
    print(f"  peak RSS                       {rss}", flush=True)


def _mb(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0f} MiB"


def _s(value: float | None) -> str:
    return "n/a" if value is None else f"{value * 1000:g} ms"


def ha_lane(lane: str, n: int, timeout_s: float) -> None:
    label = {"sqs": "HA shape, SQS lane (moto)", "kafka": "HA shape, Kafka lane (Tansu)"}[lane]
    got: list[Outcome] = []
    status = run(Options(lane, n, 0.0, "none", timeout_s), report=got.append)
    if status != 0 or not got:
        print(f"{label}: FAILED (see above)", flush=True)
        return
    figures(label, n, got[0])


def sqlite_shape(n: int, timeout_s: float) -> None:
    """``tpf serve`` on SQLite hosting the csv pipeline; the provider completes over REST (no
    broker: the SQLite store and the items' window are what is measured, not moto)."""
    label = "embedded SQLite (tpf serve hosts the pipeline), REST completions"
    state = Path(tempfile.mkdtemp(prefix="tpf-bench-csv-"))
    try:
        with contextlib.ExitStack() as stack:
            server = DemoServer(
                state / "state",
                free_port(),
                extra_env={"PIPELINE_MAX_CONCURRENCY": "25"},
                pipelines=(IDENTITY.pipeline_ref,),
            )
            server.start(timeout_s=60)
            stack.callback(server.stop)
            client = RestClient(
                server.base_url, TENANT, control_plane_token=TOKEN, admin_token=TOKEN, timeout_s=60
            )
            release(client, state / "build")
            lane = ["rest", "--base-url", server.base_url, "--tenant", TENANT, "--token", TOKEN]
            command = provider_command(Options("rest", n, 0.0), lane)
            provider = Child("payment-provider", command, state / "provider.log", env=child_env())
            provider.start()
            stack.callback(provider.stop)
            target = Target(client, server.base_url, state, server.process)
            outcome = run_flow(target, Options("rest", n, 0.0, "none", timeout_s), provider)
        figures(label, n, outcome)
        shutil.rmtree(state, ignore_errors=True)
    except (DemoFailure, SystemExit) as exc:
        print(f"{label}: FAILED: {exc}\n  state and logs kept in {state}", flush=True)


def embedded_lane(lane_name: str, n: int, timeout_s: float) -> None:
    """``tpf serve`` on SQLite hosting the csv pipeline, its awaits over a broker lane (moto's
    SQS, or Tansu): the lane and the items are what is measured, not moto's DynamoDB."""
    label = {
        "sqlite-sqs": "embedded SQLite, SQS lane (moto SQS only)",
        "sqlite-kafka": "embedded SQLite, Kafka lane (Tansu)",
    }[lane_name]
    state = Path(tempfile.mkdtemp(prefix="tpf-bench-csv-"))
    try:
        with contextlib.ExitStack() as stack:
            lane = stack.enter_context(broker_lane(lane_name.removeprefix("sqlite-")))
            server = DemoServer(
                state / "state",
                free_port(),
                extra_env={**lane.coordinator_env(), "PIPELINE_MAX_CONCURRENCY": "25"},
                pipelines=(IDENTITY.pipeline_ref,),
            )
            server.start(timeout_s=60)
            stack.callback(server.stop)
            client = RestClient(
                server.base_url, TENANT, control_plane_token=TOKEN, admin_token=TOKEN, timeout_s=60
            )
            release(client, state / "build")
            options = Options(lane.name, n, 0.0, "none", timeout_s)
            command = provider_command(options, lane.responder_args())
            env = {**child_env(), **lane.extra_env}
            provider = Child("payment-provider", command, state / "provider.log", env=env)
            provider.start()
            stack.callback(provider.stop)
            target = Target(client, server.base_url, state, server.process)
            outcome = run_flow(target, options, provider)
        figures(label, n, outcome)
        shutil.rmtree(state, ignore_errors=True)
    except (DemoFailure, SystemExit) as exc:
        print(f"{label}: FAILED: {exc}\n  state and logs kept in {state}", flush=True)


def release(client: RestClient, build: Path) -> None:
    """Build, register and activate the csv release; register the coordinator's local worker."""
    descriptor = run_tool(
        "tpf release build",
        tpf("release", "build", "--pipeline", IDENTITY.pipeline_ref, "--output", str(build)),
        child_env(),
    ).strip()
    registered = client.register_release(IDENTITY.pipeline_id, descriptor)
    active = client.activate_release(IDENTITY.pipeline_id, registered["releaseVersion"])
    client.register_worker(
        IDENTITY.pipeline_id,
        workerId="csv-local-worker",
        contractVersion=active["contractVersion"],
        releaseVersion=active["releaseVersion"],
        protocol="local",
        endpoint="in-process",
        artifactId=active["primaryArtifactId"],
        artifactDigest=active["primaryArtifactDigest"],
    )


def main() -> None:
    env = os.environ.get
    n = int(env("BENCH_CSV_RECORDS", "10000"))
    n_sqlite = int(env("BENCH_CSV_SQLITE_RECORDS", "100000"))
    timeout_s = float(env("BENCH_CSV_TIMEOUT_S", "1800"))
    shapes = [s.strip() for s in env("BENCH_CSV_SHAPES", ",".join(SHAPES)).split(",") if s.strip()]
    started = time.monotonic()
    if len(shapes) > 1:
        # One process per shape: moto keeps its state per process, and a second local AWS in
        # the same process would start with the first one's tables and queues.
        for shape in shapes:
            subprocess.run(
                [sys.executable, "-m", "bench.csv_payments"],
                env={**os.environ, "BENCH_CSV_SHAPES": shape},
                check=False,
            )
        print(f"csv bench done in {time.monotonic() - started:.0f} s", flush=True)
        return
    for shape in shapes:
        if shape in ("sqs", "kafka"):
            ha_lane(shape, n, timeout_s)
        elif shape == "sqlite":
            sqlite_shape(n_sqlite, timeout_s)
        elif shape in ("sqlite-sqs", "sqlite-kafka"):
            embedded_lane(shape, n, timeout_s)
        else:
            print(f"unknown csv bench shape {shape!r}; choose from {', '.join(SHAPES)}")
    print(f"csv bench done in {time.monotonic() - started:.0f} s", flush=True)


if __name__ == "__main__":
    main()
