"""The csv-payments demo's own parts, apart from processes: the input, the submit, the checks.

- :func:`write_input`: the original's ``payments_12.csv`` (12 rows of ``ID,Recipient,Amount,
  Currency``) or ``N`` generated rows of the same shape;
- :func:`idempotency_key`: the original's submit key (spec §11.2),
  ``csv-<sha256(pipelineId|path|name:len:sha256(content))[:24]>``, so submitting the same file
  twice finds the first execution;
- :func:`check_output`: ``<input>.out`` exists, has the header and exactly ``N`` data rows, one
  per input record in file order;
- :class:`WindowSampler`: samples the status's ``items.inFlight`` every 0.25 s (the live
  window; the durable admission table is not used here) and remembers the largest;
- :func:`histogram_quantile` and :func:`peak_rss_mb` for the figures the benchmark prints.
"""

from __future__ import annotations

import csv
import hashlib
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from demos.csv_payments.pipeline import OUTPUT_HEADER, PIPELINE_ID

INPUT_HEADER = ("ID", "Recipient", "Amount", "Currency")
INPUT_TYPE = "org.pipelineframework.csv.domain.CsvPaymentsInputFile"
RECIPIENTS = (
    "Ada Lovelace",
    "Grace Hopper",
    "Alan Turing",
    "Katherine Johnson",
    "Edsger Dijkstra",
    "Barbara Liskov",
    "Donald Knuth",
    "Margaret Hamilton",
    "Claude Shannon",
    "Frances Allen",
    "John Backus",
    "Radia Perlman",
)
CURRENCIES = ("EUR", "USD", "GBP", "CHF")
SAMPLE_EVERY_S = 0.25


class CheckFailed(Exception):
    """A check of the demo's outcome failed; the message says which and how."""


def rows(n: int) -> list[tuple[str, str, str, str]]:
    """``n`` deterministic payment rows (ids 1..n; the first 12 are the original's shape)."""
    return [
        (
            str(i),
            RECIPIENTS[(i - 1) % len(RECIPIENTS)],
            f"{(i * 3_701) % 100_000 / 100 + 1:.2f}",
            CURRENCIES[(i - 1) % len(CURRENCIES)],
        )
        for i in range(1, n + 1)
    ]


def write_input(folder: Path, n: int = 12) -> Path:
    """``payments_<n>.csv`` in ``folder`` (created); its absolute path."""
    folder.mkdir(parents=True, exist_ok=True)
    path = (folder / f"payments_{n}.csv").resolve()
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(INPUT_HEADER)
        writer.writerows(rows(n))
    return path


def idempotency_key(path: Path, pipeline_id: str = PIPELINE_ID) -> str:
    """The original's submit key for the file at ``path`` (its name, size and content)."""
    content = path.read_bytes()
    digest = hashlib.sha256(content).hexdigest()
    material = f"{pipeline_id}|{path}|{path.name}:{len(content)}:{digest}"
    return "csv-" + hashlib.sha256(material.encode()).hexdigest()[:24]


def submit_payload(path: Path) -> dict[str, Any]:
    """The submit body's ``inputPayload``: the ``CsvPaymentsInputFile`` of ``path``."""
    return {"filepath": str(path), "csvFolderPath": str(path.parent)}


@dataclass(frozen=True)
class OutputSummary:
    rows: int
    approved: int
    unapproved: int


def check_output(input_path: Path, n: int) -> OutputSummary:
    """``<input>.out``: the header, then exactly ``n`` rows, the input's ids in order."""
    out = Path(f"{input_path}.out")
    if not out.exists():
        raise CheckFailed(f"{out} was not written")
    with out.open(newline="", encoding="utf-8") as handle:
        read = list(csv.reader(handle))
    if not read:
        raise CheckFailed(f"{out} is empty")
    if tuple(read[0]) != OUTPUT_HEADER:
        raise CheckFailed(f"{out}: header {read[0]}, expected {list(OUTPUT_HEADER)}")
    data = read[1:]
    if len(data) != n:
        raise CheckFailed(f"{out} has {len(data)} data row(s), expected {n}")
    with input_path.open(newline="", encoding="utf-8") as handle:
        ids = [row["ID"] for row in csv.DictReader(handle)]
    if [row[0] for row in data] != ids:
        raise CheckFailed(f"{out}: the rows are not the input's records in file order")
    statuses = [row[4] for row in data]
    odd = sorted(set(statuses) - {"APPROVED", "UNAPPROVED"})
    if odd:
        raise CheckFailed(f"{out}: unexpected status(es) {odd}")
    approved = statuses.count("APPROVED")
    return OutputSummary(rows=len(data), approved=approved, unapproved=len(data) - approved)


@dataclass
class WindowSampler:
    """Reads ``items.inFlight`` through ``read`` every :data:`SAMPLE_EVERY_S` in a thread until
    stopped; ``peak`` is the largest value seen. A failed read counts as an error, not a 0."""

    read: Callable[[], int | None]
    every_s: float = SAMPLE_EVERY_S
    peak: int = 0
    samples: int = 0
    errors: list[str] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def sample(self) -> None:
        """One sample (the thread's body calls this; tests call it directly)."""
        try:
            value = self.read()
        except Exception as exc:
            self.errors.append(f"{type(exc).__name__}: {exc}")
            return
        if value is not None:
            self.samples += 1
            self.peak = max(self.peak, value)

    def start(self) -> None:
        def loop() -> None:
            while not self._stop.wait(self.every_s):
                self.sample()

        self._thread = threading.Thread(target=loop, name="in-flight-sampler", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def check(self, window: int) -> None:
        if self.peak > window:
            raise CheckFailed(
                f"items.inFlight reached {self.peak}, more than the window of {window} "
                f"({self.samples} samples every {self.every_s:g} s)"
            )


def in_flight_of(status: dict[str, Any]) -> int | None:
    items = status.get("items")
    return None if not isinstance(items, dict) else int(items.get("inFlight", 0))


def histogram_quantile(metrics_text: str, name: str, q: float) -> float | None:
    """The upper bound of the bucket holding quantile ``q`` of Prometheus histogram ``name``
    (unlabelled) in ``metrics_text``; ``None`` when it has no observations."""
    buckets: list[tuple[float, float]] = []
    for line in metrics_text.splitlines():
        if not line.startswith(f"{name}_bucket{{"):
            continue
        labels, _, value = line.rpartition(" ")
        le = labels.split('le="', 1)[1].split('"', 1)[0]
        buckets.append((float("inf") if le == "+Inf" else float(le), float(value)))
    if not buckets:
        return None
    buckets.sort()
    total = buckets[-1][1]
    if total <= 0:
        return None
    for bound, cumulative in buckets:
        if cumulative >= q * total:
            return bound
    return buckets[-1][0]


def peak_rss_mb(pid: int) -> float | None:
    """The peak resident set of a live process (``VmHWM``), in MiB; ``None`` if unknown."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None
