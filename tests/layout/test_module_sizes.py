"""Modules stay small (split before 400 lines) and say what they are for."""

from __future__ import annotations

import ast

from tests.layout.imports import modules

LIMIT = 400


def test_no_module_is_over_the_limit() -> None:
    sizes = {name: len(path.read_text().splitlines()) for name, path in modules().items()}
    assert {name: n for name, n in sizes.items() if n > LIMIT} == {}
    assert max(sizes.values()) > 100  # the reader found the real modules


def test_every_module_has_a_docstring() -> None:
    missing = [
        name
        for name, path in modules().items()
        if path.read_text().strip() and ast.get_docstring(ast.parse(path.read_text())) is None
    ]
    assert missing == []
