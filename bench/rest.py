"""REST benchmark: ``tpf serve`` on the SQLite default, load from a separate client process.

The coordinator runs the restaurant pipeline as its local worker; ``bench.rest_client`` (its own
process, 32 requests in flight) submits N orders, waits until all are parked, then in a closed
loop completes each await and waits for its result. A second run with one request in flight
gives the unloaded latency. Coordinator CPU time and peak RSS come from ``/proc``. The same
runs again with ``tpf.sqlite.synchronous=FULL`` (an fsync per group commit) for the durable mode.
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


def load(
    server: DemoServer, n: int, concurrency: int, *, client: str = "bench.rest_client"
) -> dict[str, Any]:
    """Run the load generator ``client`` (a module taking base URL, token, N, C) in its own
    process against ``server``; its last output line, decoded (its JSON figures)."""
    done = subprocess.run(
        [sys.executable, "-m", client, server.base_url, TOKEN, str(n), str(concurrency)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:  # say why (the broker shape's load does the same)
        raise RuntimeError(f"{client} failed:\n{done.stdout}\n{done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def measure(n: int, extra_env: dict[str, str]) -> dict[str, Any]:
    """One fresh ``tpf serve``: N executions with 32 in flight, then 200 with one in flight."""
    with tempfile.TemporaryDirectory() as tmp:
        server = DemoServer(Path(tmp) / "state", free_port(), extra_env=extra_env)
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
    return {
        **loaded,
        "total_s": total_s,
        "cpu_ms": 1000 * (after.cpu_s - before.cpu_s) / n,
        "peak_rss_mb": after.peak_rss_mb,
        "single_p50_ms": single["p50_ms"],
        "single_p99_ms": single["p99_ms"],
    }


def main() -> None:
    n = int(os.environ.get("BENCH_REST_N", "1000"))
    normal = measure(n, {})
    full = measure(n, {"TPF_SQLITE_SYNCHRONOUS": "FULL"})  # the durable-mode comparison
    print(f"REST shape: tpf serve on SQLite, client process with 32 in flight, N={n}")
    print(f"  submits/s                {n / normal['submit_s']:8.0f}")
    print(f"  completions/s            {n / normal['complete_s']:8.0f}  (complete + result)")
    print(f"  end-to-end executions/s  {n / normal['total_s']:8.0f}")
    print(
        f"  completion->result       p50={normal['p50_ms']:.2f} ms  p99={normal['p99_ms']:.2f} ms"
    )
    print(
        f"  one in flight            p50={normal['single_p50_ms']:.2f} ms  "
        f"p99={normal['single_p99_ms']:.2f} ms"
    )
    print(f"  coordinator CPU          {normal['cpu_ms']:.2f} ms/execution")
    print(f"  coordinator peak RSS     {normal['peak_rss_mb']:.0f} MB")
    print(
        f"  synchronous=FULL         {n / full['total_s']:8.0f} executions/s "
        f"(x{normal['total_s'] / full['total_s']:.2f} of NORMAL), one in flight "
        f"p50={full['single_p50_ms']:.2f} ms, CPU {full['cpu_ms']:.2f} ms/execution"
    )


if __name__ == "__main__":
    main()
