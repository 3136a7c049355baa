"""Java ``.properties`` files, read as ``java.util.Properties`` does, with line-numbered errors.

Also :func:`format_errors`, the one shape every configuration error list is reported in.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence

from tpf.core.errors import ConfigError

_ESCAPE = re.compile(r"\\(u[0-9a-fA-F]{4}|.|$)", re.DOTALL)
_ESCAPES = {"t": "\t", "n": "\n", "r": "\r", "f": "\f"}
_WS = " \t\f"


def _unescape(text: str) -> str:
    def one(match: re.Match[str]) -> str:
        code = match[1]
        if len(code) == 5:
            return chr(int(code[1:], 16))
        if code == "u":  # java.util.Properties refuses it too
            raise ConfigError("malformed \\uxxxx escape (expected four hex digits)")
        return _ESCAPES.get(code, code)  # "\=" -> "=", "\\" -> "\", lone trailing "\" -> ""

    return _ESCAPE.sub(one, text)


def _continues(line: str) -> bool:
    # An odd number of trailing backslashes continues the line; "\\" is an escaped backslash.
    return (len(line) - len(line.rstrip("\\"))) % 2 == 1


def _logical_lines(text: str) -> Iterator[tuple[int, str]]:
    """``(number of its first physical line, logical line)`` for each non-comment line."""
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        number = i + 1
        line = lines[i].lstrip(_WS)
        i += 1
        if not line or line[0] in "#!":
            continue  # comment lines never continue, as in java.util.Properties
        while _continues(line) and i < len(lines):
            line = line[:-1] + lines[i].lstrip(_WS)
            i += 1
        yield number, line[:-1] if _continues(line) else line


def _parse_properties(text: str) -> tuple[dict[str, str], list[str]]:
    """The entries, and one ``line N: ...`` message per malformed line (which is skipped)."""
    result: dict[str, str] = {}
    problems: list[str] = []
    for number, line in _logical_lines(text):
        i = 0
        while i < len(line) and line[i] not in "=:" + _WS:
            i += 2 if line[i] == "\\" else 1  # an escaped separator belongs to the key
        rest = line[i:].lstrip(_WS)
        separated = rest[:1] in ("=", ":")
        if separated:
            rest = rest[1:].lstrip(_WS)
        # java.util.Properties takes both as keys with an empty value; both are typos in a
        # coordinator's configuration ("max-retries3", "=5"), so say so instead of ignoring them.
        if i == 0:
            problems.append(f"line {number}: no key before the separator in {line!r}")
            continue
        if not separated and not rest:
            problems.append(f"line {number}: {line!r} has no value (expected key=value)")
            continue
        try:
            result[_unescape(line[:i])] = _unescape(rest.rstrip(_WS))
        except ConfigError as exc:
            problems.append(f"line {number}: {exc.message} in {line!r}")
    return result, problems


def parse_properties(text: str) -> dict[str, str]:
    """Parse ``.properties`` text; later duplicates win, as in ``java.util.Properties``.

    A malformed line (no value, no key, a bad ``\\u`` escape) is a :class:`ConfigError`."""
    result, problems = _parse_properties(text)
    if problems:
        raise ConfigError(format_errors(problems))
    return result


def _read_properties(path: str) -> tuple[dict[str, str], list[str]]:
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    except FileNotFoundError:
        return {}, [f"configuration file not found: {path}"]
    except (OSError, UnicodeDecodeError) as exc:
        return {}, [f"cannot read configuration file {path}: {exc}"]
    result, problems = _parse_properties(text)
    return result, [f"{path} {problem}" for problem in problems]


def read_properties(path: str) -> dict[str, str]:
    """Read a Java ``.properties`` file (UTF-8). A missing file or a malformed line is a
    ConfigError naming it."""
    result, problems = _read_properties(path)
    if problems:
        raise ConfigError(format_errors(problems))
    return result


def format_errors(errors: Sequence[str]) -> str:
    """One error as it is; several as a count and a list, so each is fixed in one go."""
    if len(errors) == 1:
        return errors[0]
    return f"{len(errors)} configuration errors:\n" + "\n".join(f"  - {e}" for e in errors)
