"""Pipeline modules written to temporary directories, for tests of what a release versions.

A release carries the source of the module that defines the pipeline, so these tests need real
files whose bodies they can change. :func:`write_orders` writes a small pipeline module (a step,
an await, a step whose result carries a marker written into its body); :class:`ModuleLoader`
imports such files and forgets them again afterwards, so one module name can be loaded from two
directories in one test.
"""

from __future__ import annotations

import importlib
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from tpf.authoring.pipeline import Pipeline

ORDERS_ID = "test.orders"

ORDERS_SOURCE = '''
"""An orders pipeline; its finish step writes {marker!r} into the result."""

import msgspec

from tpf.authoring.pipeline import Pipeline


class Order(msgspec.Struct):
    value: str


class Decision(msgspec.Struct):
    approved: bool


class Done(msgspec.Struct):
    value: str
    marker: str


# Stable type ids: two versions of this module have one contract and differ only in code.
pipeline = Pipeline(
    "{pipeline_id}", type_ids={{Order: "test.Order", Decision: "test.Decision", Done: "test.Done"}}
)


@pipeline.step("Prepare")
def prepare(order: Order) -> Order:
    return order


pipeline.await_step("Approve", step_id="Approve", output=Decision, timeout="PT1H")


@pipeline.step("Finish")
def finish(decision: Decision) -> Done:
    return Done(value="approved" if decision.approved else "declined", marker={marker!r})
'''


def write_orders(directory: Path, module: str, marker: str, pipeline_id: str = ORDERS_ID) -> Path:
    """Write ``<directory>/<module>.py``, an orders pipeline whose finish step says ``marker``."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{module}.py"
    path.write_text(textwrap.dedent(ORDERS_SOURCE).format(marker=marker, pipeline_id=pipeline_id))
    return path


class ModuleLoader:
    """Imports modules from given directories; every module it loaded is forgotten at the end."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self._monkeypatch = monkeypatch
        self._tops: set[str] = set()

    def load(self, directory: Path, name: str) -> ModuleType:
        """Import ``name`` from ``directory``, replacing any module of that top-level package
        this loader imported before (so the same name can come from another directory)."""
        top = name.partition(".")[0]
        self._forget(top)
        self._tops.add(top)
        self._monkeypatch.syspath_prepend(str(directory))  # also invalidates importer caches
        return importlib.import_module(name)

    def pipeline(self, directory: Path, name: str) -> Pipeline:
        pipeline = self.load(directory, name).pipeline
        assert isinstance(pipeline, Pipeline)
        return pipeline

    def close(self) -> None:
        for top in self._tops:
            self._forget(top)

    @staticmethod
    def _forget(top: str) -> None:
        for key in [k for k in sys.modules if k == top or k.startswith(top + ".")]:
            del sys.modules[key]


def module_loader(monkeypatch: pytest.MonkeyPatch) -> Iterator[ModuleLoader]:
    """The body of a ``modules`` fixture: ``yield from module_loader(monkeypatch)``."""
    loader = ModuleLoader(monkeypatch)
    try:
        yield loader
    finally:
        loader.close()
