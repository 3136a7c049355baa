"""A one-step pipeline whose step blocks on its first run and is instant on any re-run.

The step creates the file named by its input, then sleeps (so a coordinator killed now holds
the lease of a running transition); a re-run finds the file and returns at once.
``tpf serve --pipeline tests.crash.blocking_pipeline:pipeline``.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import msgspec

from tpf.authoring.pipeline import Pipeline

PIPELINE_ID = "tests.crash.blocking"


class Job(msgspec.Struct, frozen=True):
    marker: str


class Done(msgspec.Struct, frozen=True):
    marker: str


pipeline = Pipeline(PIPELINE_ID)


def _first_run(marker: Path) -> bool:
    """Create ``marker``; ``False`` if it already existed (this is a re-run)."""
    try:
        marker.touch(exist_ok=False)
    except FileExistsError:
        return False
    return True


@pipeline.step("block")
async def block(job: Job) -> Done:
    if await asyncio.to_thread(_first_run, Path(job.marker)):
        await asyncio.sleep(3600)  # until the coordinator is killed
    return Done(marker=job.marker)
