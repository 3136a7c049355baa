"""REST benchmark: ``tpf serve`` on the SQLite default, load from a separate client process.

The coordinator runs the restaurant pipeline as its local worker; ``bench.rest_client`` (its own
process, 32 requests in flight) submits N orders, waits until all are parked, then in a closed
loop completes each await and waits for its result. A second run with one request in flight
gives the unloaded latency. Coordinator CPU time and peak RSS come from ``/proc``.
``BENCH_REST_N`` overrides N (default 1000).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from demos.restaurant_approval import flows
from demos.restaurant_approval.server import ROOT, TOKEN, DemoServer, free_port

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass
class ProcStats:
    cpu_s: float
    peak_rss_mb: float


def proc_stats(pid: int) -> ProcStats:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    cpu_s = (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime + stime
    peak_kb = 0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            peak_kb = int(line.split()[1])
    return ProcStats(cpu_s, peak_kb / 1024)


def load(server: DemoServer, n: int, concurrency: int) -> dict[str, Any]:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.rest_client",
            server.base_url,
            TOKEN,
            str(n),
            str(concurrency),
        ],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:  # say why (the broker shape's load does the same)
        raise RuntimeError(f"bench.rest_client failed:\n{done.stdout}\n{done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    n = int(os.environ.get("BENCH_REST_N", "1000"))
    with tempfile.TemporaryDirectory() as tmp:
        server = DemoServer(Path(tmp) / "state", free_port())
        server.start()
        try:
            flows.prepare_release(server.client(), server.state_dir / "build")
            assert server.process is not None
            pid = server.process.pid
            before = proc_stats(pid)
            loaded = load(server, n, 32)
            after = proc_stats(pid)
            single = load(server, 200, 1)
        finally:
            server.stop()
    total_s = loaded["submit_s"] + loaded["park_wait_s"] + loaded["complete_s"]
    cpu_ms = 1000 * (after.cpu_s - before.cpu_s) / n
    print(f"REST shape: tpf serve on SQLite, client process with 32 in flight, N={n}")
    print(f"  submits/s                {n / loaded['submit_s']:8.0f}")
    print(f"  completions/s            {n / loaded['complete_s']:8.0f}  (complete + result)")
    print(f"  end-to-end executions/s  {n / total_s:8.0f}")
    print(
        f"  completion->result       p50={loaded['p50_ms']:.2f} ms  p99={loaded['p99_ms']:.2f} ms"
    )
    print(
        f"  one in flight            p50={single['p50_ms']:.2f} ms  p99={single['p99_ms']:.2f} ms"
    )
    print(f"  coordinator CPU          {cpu_ms:.2f} ms/execution")
    print(f"  coordinator peak RSS     {after.peak_rss_mb:.0f} MB")


if __name__ == "__main__":
    main()
