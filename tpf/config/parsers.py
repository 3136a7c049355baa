"""The parsers of configuration values: text in, typed value out, or a :class:`ConfigError`
naming the key (used by the key tables, :mod:`tpf.config.keys` and
:mod:`tpf.config.broker_keys`)."""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable
from typing import Any

from tpf.config.providers import table_for
from tpf.core.durations import parse_duration_ms
from tpf.core.errors import ConfigError
from tpf.core.records import IdempotencyPolicy

Parser = Callable[[str, str], Any]  # (text, key) -> value; raises ConfigError naming the key

_INT_RE = re.compile(r"[+-]?[0-9]+")  # ASCII only: int() would also take "1_000" and "١٢"
_FLOAT_RE = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?")


def _text(text: str, key: str) -> str:
    return text


def _int(minimum: int, maximum: int | None = None) -> Parser:
    def parse(text: str, key: str) -> int:
        if not _INT_RE.fullmatch(text):
            raise ConfigError(f"{key}: expected an integer, got {text!r}")
        value = int(text)
        if value < minimum:
            raise ConfigError(f"{key}: must be at least {minimum}, got {value}")
        if maximum is not None and value > maximum:
            raise ConfigError(f"{key}: must be at most {maximum}, got {value}")
        return value

    return parse


def _float(ok: Callable[[float], bool], rule: str) -> Parser:
    def parse(text: str, key: str) -> float:
        if not _FLOAT_RE.fullmatch(text):
            raise ConfigError(f"{key}: expected a number, got {text!r}")
        value = float(text)
        if not math.isfinite(value) or not ok(value):
            raise ConfigError(f"{key}: {rule}, got {text}")
        return value

    return parse


def _bool(text: str, key: str) -> bool:
    # Only true/false: "yes", "1", "on" are accepted by some loaders and rejected by others.
    lowered = text.lower()
    if lowered not in ("true", "false"):
        raise ConfigError(f"{key}: expected true or false, got {text!r}")
    return lowered == "true"


def _directories(text: str, key: str) -> tuple[str, ...]:
    """Comma-separated absolute directories (blank entries ignored), as given."""
    entries = tuple(entry.strip() for entry in text.split(",") if entry.strip())
    for entry in entries:
        if "\x00" in entry or not os.path.isabs(entry):
            raise ConfigError(f"{key}: expected absolute directories, got {entry!r}")
    return entries


def _duration(minimum_ms: int) -> Parser:
    def parse(text: str, key: str) -> int:
        ms = parse_duration_ms(text, name=key)
        if ms < minimum_ms:
            raise ConfigError(f"{key}: must be at least {minimum_ms} ms, got {text!r} ({ms} ms)")
        return ms

    return parse


def _choice(valid: tuple[str, ...], what: str = "provider") -> Parser:
    def parse(text: str, key: str) -> str:
        wanted = text.lower().replace("-", "_")  # Quarkus enum converters accept queue-async too
        for candidate in valid:
            if candidate.lower() == wanted:
                return candidate
        raise ConfigError(f"{key}: unknown {what} {text!r}; valid values: {', '.join(valid)}")

    return parse


def _provider(setting: str, what: str = "provider") -> Parser:
    """A provider name, checked against the provider table ``setting`` chooses from, as it is
    now: names are listed once, in the tables, and one registered later (a test's fake) counts."""

    def parse(text: str, key: str) -> str:
        name: str = _choice(tuple(table_for(setting).names), what)(text, key)
        return name

    return parse


_policy_name = _choice(tuple(IdempotencyPolicy), "policy")
_mode_name = _choice(("QUEUE_ASYNC",), "mode")


def _policy(text: str, key: str) -> IdempotencyPolicy:
    return IdempotencyPolicy(_policy_name(text, key))


def _mode(text: str, key: str) -> str:
    if text.upper() == "SYNC":
        raise ConfigError(
            f"{key}: SYNC is not supported; this coordinator always runs executions durably "
            "(QUEUE_ASYNC). Set it to QUEUE_ASYNC or remove the key."
        )
    return str(_mode_name(text, key))
