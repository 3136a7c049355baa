"""Flask's debug check on a request's files (tpf.dev.moto_flask) behaves as Flask's own: a
name sent as a form field raises Flask's descriptive error, any other name a plain KeyError,
each request answering about its own form."""

from __future__ import annotations

from collections.abc import Iterator

import flask
import pytest
from flask.debughelpers import DebugFilesKeyError

from tpf.dev import moto_flask


def _app() -> flask.Flask:
    app = flask.Flask("debug-files")
    app.debug = True

    @app.route("/", methods=["POST"])
    def files() -> str:
        key = flask.request.args["key"]
        try:
            flask.request.files[key]
        except DebugFilesKeyError as e:
            return f"debug:{type(flask.request.files).__name__}:{e}"
        except KeyError:
            return f"plain:{type(flask.request.files).__name__}"
        return "found"

    return app


def _answers() -> list[str]:
    client = _app().test_client()
    answers = []
    for form, key in [({"a": "1"}, "a"), ({"b": "2"}, "a"), ({"a": "3"}, "a"), ({}, "z")]:
        response = client.post(f"/?key={key}", data=form)
        answers.append(response.get_data(as_text=True))
    return answers


@pytest.fixture
def patched() -> Iterator[None]:
    moto_flask.cheaper_debug_files()
    try:
        yield
    finally:
        moto_flask.shipped()


def test_the_shared_class_answers_as_flask_s_own(patched: None) -> None:
    ours = _answers()
    moto_flask.shipped()
    theirs = _answers()
    assert ours == theirs
    assert ours[0].startswith("debug:ImmutableMultiDict:") and "'a'" in ours[0]
    assert ours[1] == "plain:ImmutableMultiDict"  # this request's form has no "a"
    assert ours[2].startswith("debug:") and "'3'" in ours[2] and "'3'" not in ours[0]


def test_one_class_serves_every_request(patched: None) -> None:
    app = _app()
    seen: list[type] = []

    @app.route("/class", methods=["POST"])
    def files_class() -> str:
        seen.append(type(flask.request.files))
        return ""

    client = app.test_client()
    client.post("/class", data={"a": "1"})
    client.post("/class", data={"b": "1"})
    assert len(seen) == 2 and seen[0] is seen[1]
