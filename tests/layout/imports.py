"""The import graph of ``tpf`` read from the source (no imports run): who imports whom.

Imports under ``if TYPE_CHECKING:`` are left out (they never run); imports inside functions
count, because a lazy import is still a dependency (and the usual way a cycle hides).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2] / "tpf"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(ROOT.rglob("*.py"))}


def _type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.AST, package: str) -> Iterator[str]:
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and _type_checking(node):
            yield from (n for child in node.orelse for n in _imports_of(child, package))
            continue
        yield from _imports_of(node, package)


def _imports_of(node: ast.AST, package: str) -> Iterator[str]:
    if isinstance(node, ast.Import):
        yield from (alias.name for alias in node.names)
    elif isinstance(node, ast.ImportFrom):
        base = node.module or ""
        if node.level:
            anchor = package.split(".")
            anchor = anchor[: len(anchor) - node.level + 1]
            base = ".".join([*anchor, base] if base else anchor)
        # ``from tpf.core import ids`` depends on the submodule; ``from tpf.core.ids import x``
        # on the module. graph() keeps the names that are modules, else the package.
        yield from (f"{base}:{alias.name}" for alias in node.names)
    else:
        yield from _imports(node, package)


def graph() -> dict[str, set[str]]:
    """Each ``tpf`` module and the ``tpf`` modules it imports."""
    known = modules()
    edges: dict[str, set[str]] = {}
    for name, path in known.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        targets: set[str] = set()
        for target in _imports(ast.parse(path.read_text()), package):
            base, _, leaf = target.partition(":")
            sub = f"{base}.{leaf}" if leaf else base
            targets.add(sub if sub in known else base)
        targets &= set(known)
        edges[name] = targets - {name}
    return edges
