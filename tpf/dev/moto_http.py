"""moto's HTTP server with keep-alive connections, as the AWS endpoints have.

werkzeug's development server ends every response with ``Connection: close`` (http.server
does not drain an unread request body before reading the next request line, so a kept
connection could read a body as a request). Against moto that makes every AWS call a new TCP
connection on the client and a new server thread: in the csv demo's SQS lane the connect, the
thread and the close were a large part of each call's CPU, on both sides.
:class:`KeepAliveRequestHandler` reads the request body whole before the application runs
(so nothing is left unread) and then keeps the connection open when the client asked for it
(HTTP/1.1 without ``Connection: close``). werkzeug's own drain after the response (it reads
whatever else the socket has, safe only because it closes) then sees no stream: the next
request stays for the next request. A body of unknown length (chunked) keeps werkzeug's
behaviour: read as it streams, connection closed. The application, moto, is unchanged.

The access line werkzeug formats for every request (the path decoded, colours, the address and
a date) is skipped when the ``werkzeug`` logger would drop it, as the demos and ``tpf dev aws``
set it to: in the csv demo's SQS lane that formatting was ~3% of the moto server's CPU.
"""

from __future__ import annotations

import io
import logging
from typing import Any

from moto.moto_server.werkzeug_app import MotoRequestHandler


class KeepAliveRequestHandler(MotoRequestHandler):
    # werkzeug writes a response's headers and body apart: on a kept connection Nagle holds the
    # body back until the client's delayed ACK (40 ms a call). A closing one flushed it.
    disable_nagle_algorithm = True
    _drained = False

    def handle_one_request(self) -> None:
        self._drained = False  # an error answered before make_environ closes, as before
        stream = self.rfile
        try:
            super().handle_one_request()
        finally:
            self.rfile = stream

    def make_environ(self) -> Any:
        environ = super().make_environ()
        if environ.get("wsgi.input_terminated"):
            return environ  # chunked: werkzeug's DechunkedInput, connection closed after
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return environ
        body = self.rfile.read(length) if length > 0 else b""
        environ["wsgi.input"] = io.BytesIO(body)
        # A short read is a client gone mid-body: close as werkzeug would.
        self._drained = len(body) == length
        if self._drained:
            # What werkzeug's post-response drain reads: nothing (the next request's bytes
            # stay in the real stream, restored by handle_one_request).
            self.rfile = _Exhausted()  # type: ignore[assignment]
        return environ

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        if _access_lines_kept():
            super().log_request(code, size)

    def send_header(self, keyword: str, value: str) -> None:
        closing = keyword.lower() == "connection" and value.lower() == "close"
        if closing and self._drained and not self.close_connection:
            # The body was read whole: whether to close is the request's choice, which
            # http.server already recorded in close_connection (HTTP/1.1 keeps by default).
            return
        super().send_header(keyword, value)


_WERKZEUG = logging.getLogger("werkzeug")


def _access_lines_kept() -> bool:
    """Whether werkzeug would write a request's access line (at INFO). A logger with no level
    of its own is one werkzeug sets to INFO at its first line, so that one writes too."""
    return _WERKZEUG.level == logging.NOTSET or _WERKZEUG.isEnabledFor(logging.INFO)


class _Exhausted(io.RawIOBase):
    """A read stream at its end."""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        return 0
