"""Broker benchmark: restaurant executions whose await completions arrive over Kafka and SQS.

For each lane (Kafka on Tansu, SQS on moto's server, both local and started here):
``tpf serve`` on the SQLite default with ``TPF_AWAIT_TRANSPORT`` switched to the lane (the
demo's :data:`~demos.restaurant_approval.brokers.COORDINATOR_ENV`), and ``bench.broker_client``
in its own process: the demo's responder answering the await requests, and 32 closed-loop
workers each submitting an order over REST and waiting for its result. Figures: executions/s
end to end, p50/p99 from completion published to result seen, coordinator CPU ms per
execution (``/proc``, as the REST shape). ``BENCH_BROKER_N`` overrides N (default 1000);
``BENCH_BROKER_LANES`` picks lanes (default ``kafka,sqs``).

A lane whose round trip does not work (the coordinator refuses the transport, or no result
comes) prints one "not wired" line instead of figures, so ``make bench`` still runs through.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench.rest import proc_stats
from demos.restaurant_approval import flows
from demos.restaurant_approval.brokers import Lane, broker_lane
from demos.restaurant_approval.server import ROOT, TOKEN, DemoServer, free_port

CONCURRENCY = 32


def load(lane: Lane, server: DemoServer, n: int) -> dict[str, Any]:
    spec = json.dumps({"name": lane.name, "values": lane.values})
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.broker_client",
            spec,
            server.base_url,
            TOKEN,
            str(n),
            str(CONCURRENCY),
        ],
        cwd=ROOT,
        env={**os.environ, **lane.extra_env, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise RuntimeError(f"bench.broker_client failed:\n{done.stdout}\n{done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def run_lane(name: str, n: int) -> None:
    label = {"kafka": "Kafka (Tansu)", "sqs": "SQS (moto)"}[name]
    with broker_lane(name) as lane, tempfile.TemporaryDirectory() as tmp:
        server = DemoServer(Path(tmp) / "state", free_port(), extra_env=lane.coordinator_env())
        try:
            server.start()
        except SystemExit:
            print(
                f"broker shape, {label}: not wired (tpf serve refuses "
                f"TPF_AWAIT_TRANSPORT={name}); skipped"
            )
            return
        try:
            flows.prepare_release(server.client(), server.state_dir / "build")
            assert server.process is not None
            before = proc_stats(server.process.pid)
            result = load(lane, server, n)
            after = proc_stats(server.process.pid)
        finally:
            server.stop()
    if not result["wired"]:
        print(f"broker shape, {label}: not wired ({result['reason']}); skipped")
        return
    cpu_ms = 1000 * (after.cpu_s - before.cpu_s) / (n + 1)  # + the probe execution
    print(
        f"Broker shape, {label}: tpf serve on SQLite, completions over the broker, "
        f"{CONCURRENCY} in flight, N={n}"
    )
    print(f"  end-to-end executions/s  {n / result['total_s']:8.0f}  (submit -> result)")
    print(
        f"  published->result        p50={result['p50_ms']:.2f} ms  p99={result['p99_ms']:.2f} ms"
    )
    print(f"  coordinator CPU          {cpu_ms:.2f} ms/execution")
    print(f"  coordinator peak RSS     {after.peak_rss_mb:.0f} MB")


def main() -> None:
    n = int(os.environ.get("BENCH_BROKER_N", "1000"))
    for name in os.environ.get("BENCH_BROKER_LANES", "kafka,sqs").split(","):
        run_lane(name.strip(), n)


if __name__ == "__main__":
    main()
