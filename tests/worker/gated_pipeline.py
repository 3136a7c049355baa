"""A pipeline whose last step blocks on its first run, for the worker process tests.

``prepare`` appends ``prepare <pid>`` to the job's log file and parks the execution on the
``gate`` await. The completion names the log, a marker and a release FIFO: ``finish`` appends
``finish <pid>`` to the log and, on its first run (it creates the marker), reads the FIFO, which
blocks until the test writes to it (a drain) or kills the worker. A re-run finds the marker and
returns at once. The output names the process that ran it.
``tpf worker --pipeline tests.worker.gated_pipeline:pipeline``.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import msgspec

from tpf.authoring.pipeline import Pipeline

PIPELINE_ID = "tests.worker.gated"
REF = "tests.worker.gated_pipeline:pipeline"


class Job(msgspec.Struct, frozen=True):
    log: str


class Gate(msgspec.Struct, frozen=True):
    log: str
    marker: str
    release: str


class Done(msgspec.Struct, frozen=True):
    by_pid: int


pipeline = Pipeline(PIPELINE_ID)


def _append(log: str, line: str) -> None:
    with open(log, "a") as out:
        out.write(line + "\n")


def _first_run(marker: Path) -> bool:
    try:
        marker.touch(exist_ok=False)
    except FileExistsError:
        return False
    return True


@pipeline.step("prepare")
async def prepare(job: Job) -> Job:
    await asyncio.to_thread(_append, job.log, f"prepare {os.getpid()}")
    return job


pipeline.await_step("gate", step_id="gate", output=Gate, timeout="PT1H")


@pipeline.step("finish")
async def finish(gate: Gate) -> Done:
    await asyncio.to_thread(_append, gate.log, f"finish {os.getpid()}")
    if await asyncio.to_thread(_first_run, Path(gate.marker)):
        await asyncio.to_thread(Path(gate.release).read_text)  # until the test writes to it
    return Done(by_pid=os.getpid())
