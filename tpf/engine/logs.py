"""Logging setup for long-running commands (``tpf serve``): level, text or JSON lines, access log.

``--log-format text`` (the default) writes ``time LEVEL logger: message`` lines;
``--log-format json`` writes one JSON object per line with ``time`` (ISO-8601 UTC), ``level``,
``logger``, ``message``, every structured field the call put in ``extra`` (the lifecycle events
of :mod:`tpf.core.events` carry ``event``, ``tenant``, ``executionId``, ``step``,
``attempt``...) and ``exception`` when there is a traceback. The aiohttp access log (one INFO line
per request on ``aiohttp.access``) is off unless ``--access-log`` asks for it.
"""

from __future__ import annotations

import argparse
import logging
from datetime import UTC, datetime
from typing import IO, Any

import orjson

LEVELS = ("debug", "info", "warning", "error")
FORMATS = ("text", "json")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
ACCESS_LOGGER = "aiohttp.access"

# Attributes every LogRecord has: anything else on a record came from ``extra``.
_STANDARD_ATTRIBUTES = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, then the record's extras."""

    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD_ATTRIBUTES and key not in doc:
                doc[key] = value
        if record.exc_info:
            doc["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            doc["exception"] = record.exc_text
        if record.stack_info:
            doc["stack"] = self.formatStack(record.stack_info)
        # default=str: an extra orjson cannot encode still gets logged, as its text.
        return orjson.dumps(doc, default=str).decode()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The logging flags of a long-running command."""
    parser.add_argument("--log-level", default="info", choices=LEVELS)
    parser.add_argument(
        "--log-format",
        default="text",
        choices=FORMATS,
        help="text lines, or one JSON object per line for log shippers (default: text)",
    )
    parser.add_argument(
        "--access-log",
        action="store_true",
        help="log every HTTP request (aiohttp's access log; off by default)",
    )


def configure(
    level: str = "info",
    fmt: str = "text",
    *,
    access_log: bool = False,
    stream: IO[str] | None = None,
) -> None:
    """Send the root logger's records to ``stream`` (stderr) at ``level``, as ``fmt`` lines.

    Replaces handlers a previous call installed, so a process can configure once per run.
    """
    if level not in LEVELS:
        raise ValueError(f"log level must be one of {', '.join(LEVELS)}, got {level!r}")
    if fmt not in FORMATS:
        raise ValueError(f"log format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(TEXT_FORMAT))
    logging.basicConfig(level=getattr(logging, level.upper()), handlers=[handler], force=True)
    # The access log is one line per request: below the chosen level unless asked for.
    logging.getLogger(ACCESS_LOGGER).setLevel(logging.INFO if access_log else logging.WARNING)
