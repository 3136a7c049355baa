"""Plain benchmark (issue 14): ``tpf serve`` running a 3-step pipeline with no await.

A client process (:mod:`bench.plain_client`, 32 in flight) submits and waits for each result in
a closed loop: executions/s end to end, p50/p99 submit -> result and coordinator CPU ms per
execution, on SQLite (``synchronous`` NORMAL and FULL; the default uvloop event loop and
``--loop asyncio``) and on the memory store. Each variant is a fresh server.
``BENCH_PLAIN_N`` overrides N (default 2000).
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.plain_pipeline import PIPELINE_ID, PIPELINE_REF
from bench.rest import load, proc_stats
from demos.restaurant_approval import flows
from demos.restaurant_approval.server import DemoServer, free_port

# name -> (extra environment, extra ``tpf serve`` flags)
VARIANTS: dict[str, tuple[dict[str, str], tuple[str, ...]]] = {
    "sqlite": ({}, ()),
    "sqlite FULL": ({"TPF_SQLITE_SYNCHRONOUS": "FULL"}, ()),
    "sqlite asyncio": ({}, ("--loop", "asyncio")),  # the loop uvloop (the default) replaced
    "memory": ({"TPF_STATE_PROVIDER": "memory"}, ()),
}


@dataclass
class PlainFigures:
    variant: str
    n: int
    per_s: float
    p50_ms: float
    p99_ms: float
    cpu_ms: float
    single_p50_ms: float

    def line(self) -> str:
        return (
            f"  {self.variant:<12} {self.per_s:7.0f} exec/s  p50={self.p50_ms:6.2f} ms "
            f"p99={self.p99_ms:6.2f} ms  CPU {self.cpu_ms:.2f} ms/exec  "
            f"one in flight p50={self.single_p50_ms:.2f} ms"
        )


def _release(server: DemoServer) -> None:
    flows.prepare_release(
        server.client(),
        server.state_dir / "b",
        pipeline_ref=PIPELINE_REF,
        pipeline_id=PIPELINE_ID,
        worker_id="plain-local-worker",
    )


def _load(server: DemoServer, n: int, concurrency: int) -> dict[str, Any]:
    return load(server, n, concurrency, client="bench.plain_client")


def measure(
    variant: str, n: int, *, env: dict[str, str], args: tuple[str, ...] = (), single_n: int = 200
) -> PlainFigures:
    """One fresh server: N plain executions with 32 in flight, then ``single_n`` with one."""
    with tempfile.TemporaryDirectory() as tmp:
        server = DemoServer(
            Path(tmp) / "state",
            free_port(),
            extra_env=env,
            pipelines=(PIPELINE_REF,),
            extra_args=args,
        )
        server.start()
        try:
            _release(server)
            _load(server, min(n, 200), 32)  # warm up (imports, caches, first pages)
            assert server.process is not None
            before = proc_stats(server.process.pid)
            loaded = _load(server, n, 32)
            after = proc_stats(server.process.pid)
            single = _load(server, single_n, 1)
        finally:
            server.stop()
    return PlainFigures(
        variant=variant,
        n=n,
        per_s=n / loaded["elapsed_s"],
        p50_ms=loaded["p50_ms"],
        p99_ms=loaded["p99_ms"],
        cpu_ms=1000 * (after.cpu_s - before.cpu_s) / n,
        single_p50_ms=single["p50_ms"],
    )


def variants() -> dict[str, tuple[dict[str, str], tuple[str, ...]]]:
    """What the shape measures: the table above."""
    return dict(VARIANTS)


def ratio_line(a: PlainFigures, b: PlainFigures) -> str:
    """``b`` against ``a``: throughput and CPU per execution as ratios."""
    return (
        f"  {b.variant} / {a.variant}: exec/s x{b.per_s / a.per_s:.2f}, "
        f"CPU/exec x{b.cpu_ms / a.cpu_ms:.2f}, p50 x{b.p50_ms / a.p50_ms:.2f}"
    )


def main() -> None:
    n = int(os.environ.get("BENCH_PLAIN_N", "2000"))
    table = variants()
    names = os.environ.get("BENCH_PLAIN_VARIANTS", ",".join(table)).split(",")
    print(f"Plain shape: tpf serve, 3 steps no await, client process with 32 in flight, N={n}")
    figures: dict[str, PlainFigures] = {}
    for name in names:
        env, args = table[name]
        figures[name] = measure(name, n, env=env, args=args)
        print(figures[name].line(), flush=True)
    base = figures.get("sqlite")
    for other in figures.values():
        if base is not None and other is not base:
            print(ratio_line(base, other))


if __name__ == "__main__":
    main()
