"""Every runtime dependency pyproject.toml declares is imported by the package: a declared but
unused one is a claim about the code that is not true (and an install nobody needs)."""

from __future__ import annotations

import ast
import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Where the import name differs from the distribution's.
IMPORT_NAMES = {"prometheus-client": "prometheus_client", "grpcio": "grpc", "protobuf": "google"}


def imported_top_levels() -> set[str]:
    names: set[str] = set()
    for path in (ROOT / "tpf").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module.split(".")[0])
    return names


def test_every_declared_dependency_is_imported() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = {re.split(r"[<>=!~\[ ;]", spec, maxsplit=1)[0] for spec in project["dependencies"]}
    imported = imported_top_levels()
    unused = {
        name for name in declared if IMPORT_NAMES.get(name, name.replace("-", "_")) not in imported
    }
    assert unused == set(), f"declared in pyproject.toml but never imported by tpf/: {unused}"
