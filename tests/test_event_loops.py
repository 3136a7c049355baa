"""``tpf serve --loop asyncio|uvloop`` and ``tpf.http.event-loop``: the key's parsing, the loop
each name runs on, and a clear refusal when uvloop is asked for but not installed."""

from __future__ import annotations

import asyncio
import sys
import types

import pytest

from tpf.cli import event_loops
from tpf.cli.main import main
from tpf.config import load_settings
from tpf.core.errors import ConfigError


def test_the_key_defaults_to_uvloop_and_takes_either_loop() -> None:
    assert load_settings({}).http.event_loop == "uvloop"
    assert load_settings({"TPF_HTTP_EVENT_LOOP": "uvloop"}).http.event_loop == "uvloop"
    chosen = load_settings({}, overrides={"tpf.http.event-loop": "UVLOOP"})
    assert chosen.http.event_loop == "uvloop"


def test_an_unknown_loop_is_a_configuration_error() -> None:
    with pytest.raises(ConfigError, match="unknown event loop 'trio'"):
        load_settings({}, overrides={"tpf.http.event-loop": "trio"})
    with pytest.raises(ConfigError, match="unknown event loop"):
        event_loops.loop_factory("trio")


def test_asyncio_runs_on_the_default_loop() -> None:
    assert event_loops.loop_factory("asyncio") is None

    async def loop_kind() -> str:
        return type(asyncio.get_running_loop()).__module__

    assert event_loops.run(loop_kind, "asyncio").startswith("asyncio")


def test_the_installed_uvloop_runs_the_coroutine() -> None:
    async def loop_kind() -> str:
        return type(asyncio.get_running_loop()).__module__

    assert event_loops.run(loop_kind, "uvloop").startswith("uvloop")


def test_uvloop_when_missing_is_refused_naming_the_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "uvloop", None)  # import uvloop now raises ImportError
    with pytest.raises(ConfigError, match=r"pip install uvloop.*--loop asyncio"):
        event_loops.loop_factory("uvloop")


def test_uvloop_when_installed_makes_the_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    made: list[asyncio.AbstractEventLoop] = []

    def new_event_loop() -> asyncio.AbstractEventLoop:
        made.append(asyncio.new_event_loop())
        return made[-1]

    fake = types.ModuleType("uvloop")
    fake.new_event_loop = new_event_loop  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "uvloop", fake)

    async def running() -> asyncio.AbstractEventLoop:
        return asyncio.get_running_loop()

    assert event_loops.run(running, "uvloop") is made[0]


def test_serve_with_a_missing_uvloop_exits_2_before_serving(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: object
) -> None:
    monkeypatch.setitem(sys.modules, "uvloop", None)
    monkeypatch.setenv("TPF_STATE_DIR", str(tmp_path))
    assert main(["serve", "--loop", "uvloop", "--port", "0"]) == 2
    err = capsys.readouterr().err
    assert "tpf serve: invalid configuration" in err and "pip install uvloop" in err
