"""The package layout is the architecture: dependencies point down, and nothing imports in a
circle. Read from the source (tests/layout/imports.py), so a lazy import inside a function
counts too.

Layers, bottom up: ``core`` < ``authoring`` < ``config`` < ``aws`` < ``stores`` <
``transports`` < ``actors`` < ``supervisors`` < ``engine`` (+ the ``coordinator`` facade)
< ``http`` < ``cli``. ``client`` and ``dev`` stand aside: tools that use only ``core``.
"""

from __future__ import annotations

import importlib

import pytest

from tests.layout.imports import graph, modules

# What each layer may import besides itself; a module of the layer may import any of these.
BELOW: dict[str, frozenset[str]] = {
    "core": frozenset(),
    "authoring": frozenset({"core"}),
    "client": frozenset({"core"}),
    "dev": frozenset({"core"}),
}
# Layers only the layers above them may import (the edge, the command, the composition root).
TOP = {
    "cli": frozenset(),
    "http": frozenset({"cli"}),
    "coordinator": frozenset({"http", "cli"}),
}
# The public re-export modules at the old paths (tpf.pipeline, tpf.errors, ...): for users only.
SHIMS = frozenset(
    {
        "tpf.pipeline",
        "tpf.errors",
        "tpf.records",
        "tpf.releases",
        "tpf.codec",
        "tpf.transports.local_worker",
    }
)


def layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "tpf"


def test_lower_layers_import_only_what_is_below_them() -> None:
    wrong = [
        f"{source} imports {target}"
        for source, targets in graph().items()
        if layer(source) in BELOW
        for target in sorted(targets)
        if layer(target) != layer(source) and layer(target) not in BELOW[layer(source)]
    ]
    assert wrong == []


def test_the_top_layers_are_imported_only_from_above() -> None:
    wrong = [
        f"{source} imports {target}"
        for source, targets in graph().items()
        for target in sorted(targets)
        if layer(target) in TOP
        and layer(source) != layer(target)
        and layer(source) not in TOP[layer(target)]
    ]
    assert wrong == []


def test_our_code_uses_the_real_modules_not_the_public_reexports() -> None:
    # The re-exports are for users; inside tpf they would hide the layering.
    wrong = [
        f"{source} imports {target}"
        for source, targets in graph().items()
        for target in sorted(targets & SHIMS)
        if source != "tpf"
    ]
    assert wrong == []


def test_no_module_imports_itself_in_a_circle() -> None:
    edges = graph()
    cycles: list[list[str]] = []
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()

    def visit(node: str) -> None:  # Tarjan's strongly connected components
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for succ in sorted(edges[node]):
            if succ not in index:
                visit(succ)
                low[node] = min(low[node], low[succ])
            elif succ in on_stack:
                low[node] = min(low[node], index[succ])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    assert cycles == []


def test_the_graph_sees_the_imports_it_checks() -> None:
    # Guards the checks above against an import reader that finds nothing.
    edges = graph()
    assert "tpf.core.records" in edges["tpf.core.lifecycle"]
    assert "tpf.authoring.pipeline" in edges["tpf"]
    assert len(modules()) > 100


@pytest.mark.parametrize("module", sorted(m for m in modules() if not m.endswith("__main__")))
def test_every_module_imports_on_its_own(module: str) -> None:
    assert importlib.import_module(module).__name__ == module


def test_the_documented_import_paths_still_work() -> None:
    from tpf import NonRetryableError, Pipeline
    from tpf.authoring.pipeline import Pipeline as Authored
    from tpf.config import load_settings
    from tpf.coordinator import Coordinator
    from tpf.errors import NonRetryableError as Public
    from tpf.records import ExecutionStatus
    from tpf.releases import build_release

    assert Pipeline is Authored
    assert NonRetryableError is Public
    assert NonRetryableError.__module__ == "tpf.errors"  # shown in errorClass
    assert callable(load_settings) and callable(build_release)
    assert ExecutionStatus.SUCCEEDED.value == "SUCCEEDED"
    assert Coordinator.__name__ == "Coordinator"
