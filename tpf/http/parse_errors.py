"""One log line, without a traceback, for each request aiohttp could not parse.

aiohttp answers a malformed request (a control character in a header, a raw non-ASCII byte in
the request line, an over-long header line) with a plain 400 before any middleware or handler
runs, and logs it on ``aiohttp.server`` at ERROR with the parser's traceback. Anyone who can
reach the port can send such requests without a token, so each one would put a dozen lines of
traceback into the coordinator's log. :func:`install` adds a filter that turns those records
into one INFO line naming the client and the parser's reason; any other record of that logger
(a real bug) keeps its traceback.
"""

from __future__ import annotations

import logging

from aiohttp.http_exceptions import HttpProcessingError

SERVER_LOGGER = "aiohttp.server"
_MAX_REASON = 120


class OneLineParseErrors(logging.Filter):
    """Rewrites aiohttp's parse-error records to one INFO line without ``exc_info``."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, HttpProcessingError):
            # The parser's reason, without the client bytes it quotes after a colon (they may
            # be a token, and they are what made the line unreadable).
            first = str(exc.message).strip().partition("\n")[0]
            reason = first.partition(":")[0].strip()[:_MAX_REASON] or type(exc).__name__
            remote = record.args[0] if isinstance(record.args, tuple) and record.args else "?"
            record.msg = "malformed HTTP request from %s answered %s: %s"
            record.args = (remote, exc.code, reason)
            record.exc_info = None
            record.exc_text = None
            record.levelno, record.levelname = logging.INFO, logging.getLevelName(logging.INFO)
        return True


def install() -> None:
    """Add the filter to aiohttp's server logger (once per process)."""
    logger = logging.getLogger(SERVER_LOGGER)
    if not any(isinstance(f, OneLineParseErrors) for f in logger.filters):
        logger.addFilter(OneLineParseErrors())
