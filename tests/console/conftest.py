"""Fixtures of the console tests: the REST edge over real sockets (``make_api``, from the HTTP
tests) and, for the browser tests, a headless Chromium (:mod:`tests.console.browser`)."""

from tests.http.conftest import make_api

__all__ = ["make_api"]
