"""The original's payload envelope codec (``application/tpf-transition+json``, spec §7.1).

On the wire a payload is ``{"payloadTypeId", "payloadEncoding", "payload"}`` where ``payload``
is a JSON *text*. Collections nest envelopes: ``java.util.Map`` is ``{"items": {"k": <envelope>}}``
and ``java.util.List``/``Set`` are ``{"items": [<envelope>...]}``. Inside the coordinator payloads
are plain JSON values; this module converts at the edges, and every failure is a
:class:`~tpf.errors.ValidationError` whose message starts with the offending field's path.
"""

from __future__ import annotations

import hashlib
from typing import Any

import msgspec

from tpf.core.errors import ValidationError
from tpf.core.json_depth import DEFAULT_MAX_DEPTH, check_depth
from tpf.core.records import TRANSITION_ENCODING, PayloadEnvelope

MAP_TYPE = "java.util.Map"
LIST_TYPES = frozenset({"java.util.List", "java.util.Set"})
NULL_TYPE = "null"
_INT_TYPES = ("java.lang.Long", "java.lang.Integer", "java.lang.Short", "java.lang.Byte")
_TEXT_TYPES = (
    "java.lang.String",
    "java.lang.Character",
    "java.util.UUID",
    "java.time.Instant",
    "java.time.LocalDate",
    "java.time.LocalDateTime",
    "java.time.OffsetDateTime",
    "java.time.ZonedDateTime",
    "java.nio.file.Path",
)
# JSON type(s) a scalar Java type id must carry; anything else is a client bug worth a 400.
_SCALAR_SHAPES: dict[str, tuple[type, ...]] = {
    **dict.fromkeys(_INT_TYPES, (int,)),
    **dict.fromkeys(_TEXT_TYPES, (str,)),
    "java.math.BigInteger": (int, str),
    "java.lang.Double": (int, float),
    "java.lang.Float": (int, float),
    "java.math.BigDecimal": (int, float, str),
    "java.lang.Boolean": (bool,),
}
# Nested envelopes double their escaping per level, so real payloads stay shallow; the cap keeps
# a hostile one from exhausting the stack.
MAX_DEPTH = 64

_encoder = msgspec.json.Encoder()
_sorted_encoder = msgspec.json.Encoder(order="sorted")
_decoder = msgspec.json.Decoder()


def is_envelope(obj: Any) -> bool:
    """True for a dict shaped like an envelope (has ``payloadTypeId`` or ``payloadEncoding``)."""
    return isinstance(obj, dict) and ("payloadTypeId" in obj or "payloadEncoding" in obj)


def decode_payload(
    obj: Any, *, field: str = "payload", max_json_depth: int = DEFAULT_MAX_DEPTH
) -> tuple[str | None, Any]:
    """``(payloadTypeId, plain value)`` of an envelope, or ``(None, obj)`` for plain JSON.

    Each envelope's ``payload`` text may nest at most ``max_json_depth`` levels (the client's
    JSON is bounded before it is decoded, as the edge bounds request bodies).
    """
    if not is_envelope(obj):
        return None, obj
    return _decode_envelope(obj, field, 0, max_json_depth)


def _decode_envelope(
    env: dict[str, Any], field: str, depth: int, max_json_depth: int
) -> tuple[str | None, Any]:
    if depth > MAX_DEPTH:
        raise ValidationError(f"{field}: envelopes nested deeper than {MAX_DEPTH} levels")
    type_id = env.get("payloadTypeId")
    if type_id is not None and (not isinstance(type_id, str) or not type_id.strip()):
        raise ValidationError(f"{field}.payloadTypeId: must be a non-blank string or null")
    encoding = env.get("payloadEncoding")
    if encoding is not None and encoding != TRANSITION_ENCODING:
        raise ValidationError(
            f"{field}.payloadEncoding: unsupported encoding {encoding!r} "
            f"(expected {TRANSITION_ENCODING})"
        )
    if "payload" not in env:
        raise ValidationError(f"{field}.payload: is required")
    text = env["payload"]
    if not isinstance(text, str):
        raise ValidationError(
            f"{field}.payload: must be a JSON text (a string), got {_json_kind(text)}"
        )
    check_depth(text, max_json_depth, field=f"{field}.payload")
    try:
        value = _decoder.decode(text)
    except msgspec.DecodeError as exc:
        raise ValidationError(f"{field}.payload: invalid JSON text: {exc}") from exc
    except RecursionError:  # a bound set above what the stack allows still answers 400
        raise ValidationError(f"{field}.payload: JSON text nested too deeply") from None
    return type_id, _unwrap(type_id, value, f"{field}.payload", depth, max_json_depth)


def _unwrap(type_id: str | None, value: Any, path: str, depth: int, max_json_depth: int) -> Any:
    """Turn a decoded payload of ``type_id`` into a plain value (collections recursively)."""
    if type_id == NULL_TYPE:
        return None
    if type_id == MAP_TYPE:
        items = _items(value, dict, path)
        result: dict[str, Any] = {}
        for key, item in items.items():
            if not key.strip():
                raise ValidationError(f"{path}.items: map keys must be non-blank strings")
            result[key] = _unwrap_item(item, f"{path}.items.{key}", depth, max_json_depth)
        return result
    if type_id in LIST_TYPES:
        items = _items(value, list, path)
        return [
            _unwrap_item(item, f"{path}.items[{i}]", depth, max_json_depth)
            for i, item in enumerate(items)
        ]
    if type_id is not None and type_id in _SCALAR_SHAPES:
        allowed = _SCALAR_SHAPES[type_id]
        # bool is an int subclass in Python but not a number in JSON's eyes.
        ok = isinstance(value, allowed) and (bool in allowed or not isinstance(value, bool))
        if value is not None and not ok:
            raise ValidationError(f"{path}: a {type_id} payload cannot be {_json_kind(value)}")
    return value  # a scalar, or a DTO's plain JSON object


def _items(value: Any, kind: type, path: str) -> Any:
    if not isinstance(value, dict) or "items" not in value:
        raise ValidationError(f'{path}: expected an object with an "items" member')
    items = value["items"]
    if not isinstance(items, kind):
        expected = "an object" if kind is dict else "an array"
        raise ValidationError(f"{path}.items: expected {expected}, got {_json_kind(items)}")
    return items


def _unwrap_item(item: Any, path: str, depth: int, max_json_depth: int) -> Any:
    # The original always nests envelopes; a bare JSON value is accepted as already plain.
    if is_envelope(item):
        return _decode_envelope(item, path, depth + 1, max_json_depth)[1]
    return item


def _json_kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


# --------------------------------------------------------------------------- encoding


def java_type_id(value: Any) -> str:
    """The type id the original's Python clients use for a plain JSON value."""
    if value is None:
        return NULL_TYPE
    if isinstance(value, bool):
        return "java.lang.Boolean"
    if isinstance(value, int):
        return "java.lang.Long"
    if isinstance(value, float):
        return "java.lang.Double"
    if isinstance(value, str):
        return "java.lang.String"
    if isinstance(value, dict):
        return MAP_TYPE
    if isinstance(value, list | tuple):
        return "java.util.List"
    raise TypeError(f"not a JSON value: {type(value).__name__}")


def encode_payload(value: Any, type_id: str | None) -> PayloadEnvelope:
    """Wrap ``value`` (typed or plain) in an envelope of ``type_id``.

    ``java.util.Map``/``List``/``Set`` nest one envelope per item, typed by
    :func:`java_type_id`, so the result decodes back to ``value`` with :func:`decode_payload`.
    """
    plain = msgspec.to_builtins(value)
    if type_id == MAP_TYPE:
        if not isinstance(plain, dict):
            raise TypeError(f"a {MAP_TYPE} payload must be a dict, got {type(plain).__name__}")
        items: Any = {k: _nested(v) for k, v in plain.items()}
        text = json_text({"items": items})
    elif type_id in LIST_TYPES:
        if not isinstance(plain, list):
            raise TypeError(f"a {type_id} payload must be a list, got {type(plain).__name__}")
        text = json_text({"items": [_nested(v) for v in plain]})
    elif type_id == NULL_TYPE:
        text = "null"
    else:
        text = json_text(plain)
    return PayloadEnvelope(
        payload_type_id=type_id, payload_encoding=TRANSITION_ENCODING, payload=text
    )


def _nested(value: Any) -> dict[str, Any]:
    envelope = encode_payload(value, java_type_id(value))
    result: dict[str, Any] = msgspec.to_builtins(envelope)
    return result


def json_text(value: Any) -> str:
    """Compact JSON text of a typed or plain value."""
    return _encoder.encode(value).decode()


def canonical_json(value: Any) -> bytes:
    """Compact JSON with dict keys and Struct fields sorted: equal values, equal bytes."""
    return _sorted_encoder.encode(value)


def canonical_digest(value: Any) -> str:
    """``sha256:<hex>`` of :func:`canonical_json`; detects a key reused with another payload."""
    return "sha256:" + hashlib.sha256(canonical_json(value)).hexdigest()
