"""The one duration grammar: configuration values and ``await_step(timeout=...)`` both use it.

Accepted, case-insensitive:

- ISO-8601 durations as ``java.time.Duration`` writes them: ``PT30M``, ``PT0.5S``, ``PT1H30M``,
  ``P14D``, ``P1DT2H`` (days, hours, minutes, seconds; fractional seconds with ``.`` or ``,``);
- Quarkus' short forms, which existing configurations use: ``500ms``, ``10s``, ``2m``, ``1h``,
  ``1d``;
- whole milliseconds: ``250`` (or the int ``250`` from Python code).

Negative durations are refused. Years, months and weeks (``P1Y``, ``P1M``, ``P1W``) are refused
as ``java.time.Duration`` refuses them: their length depends on the calendar. Every error names
the parameter it is about (a configuration key, an await step's timeout).
"""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal

from tpf.core.errors import ConfigError

_INT_RE = re.compile(r"[+-]?[0-9]+")  # ASCII only: int() would also take "1_000" and "١٢"
_ISO_RE = re.compile(
    r"P(?:(?P<d>[0-9]+)D)?(?:T(?:(?P<h>[0-9]+)H)?(?:(?P<m>[0-9]+)M)?"
    r"(?:(?P<s>[0-9]+(?:[.,][0-9]{1,9})?)S)?)?",
    re.IGNORECASE,
)
_SIMPLE_RE = re.compile(r"(?P<n>[0-9]+)(?P<u>ms|s|m|h|d)", re.IGNORECASE)
_UNIT_MS = {"ms": 1, "s": 1_000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}

GRAMMAR = (
    "ISO-8601 such as PT30M, PT0.5S, PT1H30M, P14D or P1DT2H, a short form such as 30s, 2m, "
    "1h or 500ms, or whole milliseconds"
)


def parse_duration_ms(value: str | int, *, name: str) -> int:
    """``value`` in milliseconds; a :class:`ConfigError` naming ``name`` if it is not one."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ConfigError(f"{name}: expected a duration ({GRAMMAR}), got {value!r}")
    ms = value if isinstance(value, int) else _parse_text(value.strip(), value, name)
    if ms < 0:
        raise ConfigError(f"{name}: duration must not be negative, got {value!r}")
    return ms


def _parse_text(text: str, original: str, name: str) -> int:
    if _INT_RE.fullmatch(text):
        return int(text)
    if simple := _SIMPLE_RE.fullmatch(text):
        return int(simple["n"]) * _UNIT_MS[simple["u"].lower()]
    iso = _ISO_RE.fullmatch(text)
    # "P1DT" has a T but no time part: Java rejects it, so do we.
    if iso and any(iso.groupdict().values()) and text[-1] not in "tT":
        parts = {k: Decimal((v or "0").replace(",", ".")) for k, v in iso.groupdict().items()}
        total = ((parts["d"] * 24 + parts["h"]) * 60 + parts["m"]) * 60_000 + parts["s"] * 1000
        return int(total.to_integral_value(rounding=ROUND_HALF_UP))
    raise ConfigError(f"{name}: malformed duration {original!r}; expected {GRAMMAR}")
