"""A local AWS for development and tests: moto's server with atomic DynamoDB writes.

moto (the optional ``dev`` extra) is imported by whoever imports this module, so the coordinator
itself never needs it. Used by ``tpf dev aws`` and by the test suite.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import Any

from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from moto.server import ThreadedMotoServer
from werkzeug.serving import make_server


class SerializedDynamo:
    """WSGI wrapper running one DynamoDB request at a time.

    moto's threaded server evaluates a condition and applies the write without any lock (and a
    failed transaction rolls back by restoring a copy of the whole table), so two concurrent
    conditional writes can both "win" and a rollback can erase another request's commit. Real
    DynamoDB applies each conditional write and transaction atomically; serializing DynamoDB
    requests restores that. Other services (SQS long polls) stay concurrent.
    """

    def __init__(self, app: Any) -> None:
        self._app = app
        self._lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        if str(environ.get("HTTP_X_AMZ_TARGET", "")).startswith("DynamoDB_"):
            with self._lock:
                return list(self._app(environ, start_response))
        result: Iterable[bytes] = self._app(environ, start_response)
        return result


class AtomicMotoServer(ThreadedMotoServer):
    """``ThreadedMotoServer`` with :class:`SerializedDynamo` in front of its application."""

    def _server_entry(self) -> None:
        app = SerializedDynamo(DomainDispatcherApplication(create_backend_app))
        self._server = make_server(
            self._ip_address, self._port, app, True, request_handler=MotoRequestHandler
        )
        self._server_ready_event.set()
        self._server.serve_forever()
