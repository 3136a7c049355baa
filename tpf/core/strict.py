"""Strict validation of a plain JSON value against a declared type, naming the offending field.

``msgspec.convert`` checks required fields and types, but it ignores object keys the type does
not declare unless the Struct itself forbids them (``forbid_unknown_fields``), and dataclasses
and TypedDicts cannot forbid them at all. A human answer with a misspelt field (``orderid``)
would then be accepted with the field silently dropped. :func:`validate` first walks the value
alongside the type (``msgspec.inspect``) and refuses every undeclared key, through nested
Structs, lists, dicts, optionals and tagged unions, then lets ``msgspec.convert`` check the
rest. Every refusal is a :class:`~tpf.errors.ValidationError` whose message starts with the
JSON path of the field (``responsePayload.accepted.orderId: ...``) and whose ``details`` carry
it as ``field``.
"""

from __future__ import annotations

import functools
import re
from typing import Any

import msgspec
from msgspec import inspect as mi

from tpf.core.errors import ValidationError

# msgspec's messages end with " - at `$.path`" when the problem is below the root.
_AT = re.compile(r"^(?P<message>.*?)(?: - at `\$(?P<path>[^`]*)`)?$", re.DOTALL)
_MISSING = re.compile(r"^Object missing required field `(?P<name>[^`]+)`$")
_UNKNOWN = re.compile(r"^Object contains unknown field `(?P<name>[^`]+)`$")
_IDENTIFIER = re.compile(r"^[A-Za-z_$][A-Za-z0-9_$]*$")

_OBJECT_LIKE = (mi.StructType, mi.TypedDictType, mi.DataclassType, mi.DictType)
_SEQUENCES = (mi.ListType, mi.SetType, mi.FrozenSetType, mi.VarTupleType)
_ARRAY_LIKE = (*_SEQUENCES, mi.TupleType, mi.NamedTupleType)


def validate(value: Any, tp: Any, *, root: str, allow_undeclared: bool = False) -> Any:
    """``value`` converted to ``tp``; refuses undeclared fields unless ``allow_undeclared``.

    ``root`` names the value in messages (``responsePayload``).
    """
    if not allow_undeclared:
        _check_declared(value, _info(tp), root)
    try:
        return msgspec.convert(value, tp, str_keys=True)
    except msgspec.ValidationError as exc:
        field, problem = _explain(str(exc), root)
        raise _refusal(field, problem) from None


def field_path(parent: str, key: object) -> str:
    """``parent.key`` for identifier-like keys, else ``parent["key"]`` (JSON path style)."""
    if isinstance(key, int):
        return f"{parent}[{key}]"
    text = str(key)
    if _IDENTIFIER.match(text):
        return f"{parent}.{text}"
    return f"{parent}[{msgspec.json.encode(text).decode()}]"


def _refusal(field: str, problem: str) -> ValidationError:
    return ValidationError(f"{field}: {problem}", details={"field": field})


def _explain(message: str, root: str) -> tuple[str, str]:
    """(field path, problem) from a msgspec validation message."""
    match = _AT.match(message)
    assert match is not None  # the pattern matches any text
    text, path = match["message"], root + (match["path"] or "")
    if missing := _MISSING.match(text):
        return field_path(path, missing["name"]), "required field is missing"
    if unknown := _UNKNOWN.match(text):
        return field_path(path, unknown["name"]), "undeclared field"
    if text.startswith("Expected "):  # "Expected `str`, got `int`": lower case after the path
        text = "e" + text[1:]
    return path, text


@functools.lru_cache(maxsize=256)
def _cached_info(tp: Any) -> mi.Type:
    return mi.type_info(tp)


def _info(tp: Any) -> mi.Type:
    try:
        return _cached_info(tp)
    except TypeError:  # an unhashable annotation: inspect it every time
        return mi.type_info(tp)


def _check_declared(value: Any, info: mi.Type, path: str) -> None:
    """Raise for the first key of ``value`` that ``info`` does not declare.

    Where the value does not have the type's shape at all (an object where a list is declared),
    nothing is raised here: ``msgspec.convert`` reports that mismatch with its own message.
    """
    if isinstance(info, mi.Metadata):
        _check_declared(value, info.type, path)
    elif isinstance(info, mi.UnionType):
        member = _union_member(value, info)
        if member is not None:
            _check_declared(value, member, path)
    elif isinstance(info, (mi.StructType, mi.TypedDictType, mi.DataclassType)):
        _check_fields(value, info, path)
    elif isinstance(info, mi.NamedTupleType):
        _check_positional(value, [f.type for f in info.fields], path)
    elif isinstance(info, mi.DictType) and isinstance(value, dict):
        for key, item in value.items():
            _check_declared(item, info.value_type, field_path(path, key))
    elif isinstance(info, mi.TupleType):
        _check_positional(value, list(info.item_types), path)
    elif isinstance(info, _SEQUENCES) and isinstance(value, list):
        for index, item in enumerate(value):
            _check_declared(item, info.item_type, field_path(path, index))
    # Scalars, Any and custom types declare no fields.


def _check_fields(
    value: Any, info: mi.StructType | mi.TypedDictType | mi.DataclassType, path: str
) -> None:
    if isinstance(info, mi.StructType) and info.array_like:
        # An array-like tagged Struct leads with its tag.
        lead: list[mi.Type | None] = [] if info.tag_field is None else [None]
        _check_positional(value, lead + [f.type for f in info.fields], path)
        return
    if not isinstance(value, dict):
        return
    fields = {f.encode_name: f for f in info.fields}
    tag_field = info.tag_field if isinstance(info, mi.StructType) else None
    for key, item in value.items():
        field = fields.get(key)
        if field is not None:
            _check_declared(item, field.type, field_path(path, key))
        elif key != tag_field:
            declared = ", ".join(sorted(fields)) or "none"
            raise _refusal(field_path(path, key), f"undeclared field (declared: {declared})")


def _check_positional(value: Any, types: list[mi.Type | None], path: str) -> None:
    if not isinstance(value, list):
        return
    for index, item in enumerate(value):
        if index >= len(types):
            raise _refusal(
                field_path(path, index), f"undeclared element (at most {len(types)} declared)"
            )
        declared = types[index]
        if declared is not None:
            _check_declared(item, declared, field_path(path, index))


def _union_member(value: Any, info: mi.UnionType) -> mi.Type | None:
    """The member of a union that ``value`` can decode as (msgspec allows at most one object-like
    and one array-like member, or several tagged Structs told apart by their tag)."""
    if isinstance(value, dict):
        candidates = [t for t in info.types if _object_like(t)]
    elif isinstance(value, list):
        candidates = [t for t in info.types if _array_like(t)]
    else:
        return None
    if len(candidates) == 1:
        return candidates[0]
    for candidate in candidates:  # tagged Structs: the tag picks one
        struct = _unwrap(candidate)
        if not isinstance(struct, mi.StructType) or struct.tag_field is None:
            continue
        tag = value.get(struct.tag_field) if isinstance(value, dict) else (value or [None])[0]
        if tag == struct.tag:
            return candidate
    return None


def _unwrap(info: mi.Type) -> mi.Type:
    while isinstance(info, mi.Metadata):
        info = info.type
    return info


def _object_like(info: mi.Type) -> bool:
    inner = _unwrap(info)
    if isinstance(inner, mi.StructType):
        return not inner.array_like
    return isinstance(inner, _OBJECT_LIKE)


def _array_like(info: mi.Type) -> bool:
    inner = _unwrap(info)
    if isinstance(inner, mi.StructType):
        return inner.array_like
    return isinstance(inner, _ARRAY_LIKE)
