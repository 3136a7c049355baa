"""The README's Python examples run as written, so the docs cannot drift from the code."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path
from typing import Any

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


async def test_readme_examples_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    assert len(blocks) == 2, "the README's pipeline and coordinator examples"
    monkeypatch.chdir(tmp_path)  # the example keeps its state in ./.tpf
    monkeypatch.delenv("TPF_STATE_DIR", raising=False)
    namespace: dict[str, Any] = {"__name__": "readme_example"}
    exec(compile(blocks[0], "README.md[pipeline]", "exec"), namespace)
    body = "async def _example():\n" + textwrap.indent(blocks[1], "    ")
    exec(compile(body, "README.md[coordinator]", "exec"), namespace)
    await namespace["_example"]()
    assert (tmp_path / ".tpf" / "tpf.sqlite3").exists()
