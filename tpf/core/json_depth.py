"""A nesting-depth bound for JSON from clients, checked on the raw text before it is decoded.

msgspec (like every recursive decoder) descends one C stack level per ``[`` or ``{`` and raises
``RecursionError`` near Python's recursion limit, so a ~2 KB body of brackets would otherwise be
a 500. :func:`check_depth` runs before decoding: strings are removed by one regex (which honours
``\\"`` and ``\\\\`` escapes, so a bracket inside a string never counts), the remaining
brackets become +1/-1 bytes, and the running sum's maximum is the depth; all of it in C, linear
in the size of the text. Only when the bound is exceeded does a second, token-by-token pass
find which top-level member is too deep, so the 400 names the field.

Malformed JSON is left to the decoder, which reports it with its own message; the scan only has
to agree with the decoder about what is a string, which it does for every well-formed prefix.
"""

from __future__ import annotations

import re
from itertools import accumulate

from tpf.core.errors import ValidationError

DEFAULT_MAX_DEPTH = 64  # tpf.http.max-json-depth

# A JSON string with its escapes, written as "unrolled loop" so a long string is one C scan. An
# unterminated string runs to the end of the text, as it does for the decoder (which never gets
# past it): the match can never fail, so the regex never rescans (no quadratic ``"\"\"\"...``).
_STRING_RE = rb'"[^"\\]*(?:\\.[^"\\]*)*(?:"|\\?\Z)'
_STRING = re.compile(_STRING_RE, re.DOTALL)
_TOKEN = re.compile(_STRING_RE + rb"|[\[\]{}:,]", re.DOTALL)
_OPEN, _CLOSE = b"[{", b"]}"
# Opening brackets become +1, closing ones -1 (0xFF read as a signed byte); all else is deleted.
_STEPS = bytes.maketrans(b"[{]}", b"\x01\x01\xff\xff")
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")


def depth(text: bytes | str) -> int:
    """How deeply ``text``'s arrays and objects nest (0 for a scalar); linear, in C."""
    data = _as_bytes(text)
    steps = _STRING.sub(b"", data).translate(_STEPS, _NOT_BRACKETS)
    return max(accumulate(memoryview(steps).cast("b")), default=0)


def check_depth(text: bytes | str, limit: int, *, field: str | None = None) -> None:
    """Raise a 400 :class:`ValidationError` if ``text`` nests deeper than ``limit`` levels.

    The message names the top-level member holding the excess, under ``field`` (the JSON's own
    name, e.g. ``inputPayload.payload``); ``field=None`` is a request body, whose members are
    the fields themselves.
    """
    data = _as_bytes(text)
    # Depth never exceeds the number of opening brackets (strings' included): most bodies are
    # settled by two C counts, without the scan.
    if data.count(b"[") + data.count(b"{") <= limit or depth(data) <= limit:
        return
    member = _too_deep_member(data, limit)
    parent = field or "request body"
    path = f"{field}.{member}" if field and member else member or parent
    raise ValidationError(
        f"{path}: JSON nested deeper than {limit} levels (tpf.http.max-json-depth)"
    )


def _too_deep_member(data: bytes, limit: int) -> str | None:
    """The top-level object member holding the first point deeper than ``limit`` (rare path)."""
    level = 0
    top_is_object = False
    last_string: bytes | None = None
    member: str | None = None
    for match in _TOKEN.finditer(data):
        token = match.group()
        if token[0] in _OPEN:
            level += 1
            if level == 1:
                top_is_object = token == b"{"
            if level > limit:
                return member
        elif token[0] in _CLOSE:
            level -= 1
        elif token == b":" and level == 1 and top_is_object and last_string is not None:
            member = last_string[1:-1][:100].decode("utf-8", "replace")
        last_string = token if token[0] == ord('"') else None
    return member


def _as_bytes(text: bytes | str) -> bytes:
    # surrogatepass: a lone surrogate in a decoded string must not make the check itself fail.
    return text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text
