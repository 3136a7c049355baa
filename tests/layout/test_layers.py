"""The package layout is the architecture: dependencies point down, and nothing imports in a
circle. Read from the source (tests/layout/imports.py), so a lazy import inside a function
counts too.

Layers, bottom up: ``core`` < ``authoring`` < ``config`` < ``aws``, ``kafka`` < ``stores`` <
``transports`` < ``actors`` < ``supervisors`` < ``engine`` < ``worker`` (the worker process)
< the ``coordinator`` facade < ``http`` < ``cli``. ``client`` and ``dev`` stand aside: tools
that use only ``core``.
"""

from __future__ import annotations

import importlib

import pytest

from tests.layout.imports import graph, modules

# Bottom up: a module may import its own layer and the layers before it in this list.
ORDER = (
    "core",
    "authoring",
    "config",
    "aws",
    "kafka",
    "stores",
    "transports",
    "actors",
    "supervisors",
    "engine",
    # The worker process (tpf worker): composes transports, stores and supervisors as engine
    # does for a coordinator, and sits beside it; nothing below may reach up into it.
    "worker",
    "coordinator",
    "http",
    "cli",
)
# Beside the stack: tools built on the core alone, and the test environments.
ASIDE: dict[str, frozenset[str]] = {
    "client": frozenset({"core"}),
    "dev": frozenset({"core"}),
    # Test environments for users' pipelines (tpf.testing): built on the coordinator, below
    # the HTTP and CLI edges; nothing in the stack imports them.
    "testing": frozenset(ORDER[: ORDER.index("coordinator") + 1]),
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


SHIMS_LAYERS = {m.split(".")[1] for m in SHIMS if m.count(".") == 1}


def layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "tpf"


def allowed(source: str, target: str) -> bool:
    here, there = layer(source), layer(target)
    if here == there or target in SHIMS or source in SHIMS or target == "tpf":
        return True  # (every import runs the package root anyway: its __version__ is fine)
    if here in ASIDE:
        return there in ASIDE[here]
    if there in ASIDE:
        return here not in ("core", "authoring")
    if here not in ORDER or there not in ORDER:
        return here == "tpf"  # the package root re-exports the authoring API
    return ORDER.index(there) < ORDER.index(here)


def test_every_layer_imports_only_the_layers_below_it() -> None:
    wrong = [
        f"{source} imports {target}"
        for source, targets in graph().items()
        for target in sorted(targets)
        if not allowed(source, target)
    ]
    assert wrong == []


def test_the_core_imports_nothing_of_ours_above_it() -> None:
    # The acceptance line of issue 9, stated on its own.
    above = {t for s, ts in graph().items() if layer(s) == "core" for t in ts if layer(t) != "core"}
    assert above == set()


def test_every_top_level_package_has_a_layer() -> None:
    # A new folder must be placed in ORDER or ASIDE, or the checks above would wave it through.
    packages = {layer(m) for m in modules()} - {"tpf", *SHIMS_LAYERS}
    assert packages <= set(ORDER) | set(ASIDE)


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
