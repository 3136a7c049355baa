"""A placeholder JSON value of a step's input type, for the first submit command ``tpf dev``
prints: every required field filled with a value that decodes into the type (``"example"``,
``0``, ``false``, an all-zero UUID, ...), so the printed command is accepted as it is and shows
the shape to edit. Business rules inside the step may still refuse the placeholders.
"""

from __future__ import annotations

import enum
from typing import Any

import msgspec
import msgspec.inspect as mi

_MAX_DEPTH = 8  # recursive types end in null rather than recursing forever
_FIXED: dict[type[mi.Type], Any] = {
    mi.BoolType: False,
    mi.NoneType: None,
    mi.UUIDType: "00000000-0000-0000-0000-000000000000",
    mi.DecimalType: "0",
    mi.DateTimeType: "2026-01-01T00:00:00Z",
    mi.DateType: "2026-01-01",
    mi.TimeType: "00:00:00",
    mi.TimeDeltaType: "PT0S",
    mi.BytesType: "",
    mi.ByteArrayType: "",
    mi.MemoryViewType: "",
    mi.AnyType: {},
}


def sample_json(tp: Any) -> Any:
    """A plain JSON value that ``msgspec.convert`` accepts as ``tp`` (best effort)."""
    return _sample(mi.type_info(tp), 0)


def _number(t: mi.IntType | mi.FloatType, zero: float) -> Any:
    if t.ge is not None and t.ge > zero:
        return t.ge
    if t.gt is not None and t.gt >= zero:
        return t.gt + 1
    if t.le is not None and t.le < zero:
        return t.le
    if t.lt is not None and t.lt <= zero:
        return t.lt - 1
    return zero


def _fields(fields: tuple[mi.Field, ...], depth: int) -> dict[str, Any]:
    return {f.encode_name: _sample(f.type, depth + 1) for f in fields if f.required}


def _sample(t: mi.Type, depth: int) -> Any:
    if depth > _MAX_DEPTH:
        return None
    if type(t) in _FIXED:
        return _FIXED[type(t)]
    if isinstance(t, mi.Metadata):
        return _sample(t.type, depth)
    if isinstance(t, mi.StrType):
        text = "example"[: t.max_length] if t.max_length is not None else "example"
        return text.ljust(t.min_length or 0, "x")
    if isinstance(t, mi.IntType):
        return int(_number(t, 0))
    if isinstance(t, mi.FloatType):
        return float(_number(t, 0.0))
    if isinstance(t, mi.StructType):
        value = _fields(t.fields, depth)
        if t.tag_field is not None:
            value = {t.tag_field: t.tag, **value}
        return list(value.values()) if t.array_like else value
    if isinstance(t, mi.TypedDictType | mi.DataclassType):
        return _fields(t.fields, depth)
    if isinstance(t, mi.NamedTupleType):
        return [_sample(f.type, depth + 1) for f in t.fields]
    if isinstance(t, mi.UnionType):
        concrete = [member for member in t.types if not isinstance(member, mi.NoneType)]
        return _sample(concrete[0], depth) if concrete else None
    if isinstance(t, mi.LiteralType):
        return t.values[0]
    if isinstance(t, mi.EnumType):
        first = next(iter(t.cls))
        return first.value if isinstance(first, enum.Enum) else first
    if isinstance(t, mi.TupleType):
        return [_sample(item, depth + 1) for item in t.item_types]
    if isinstance(t, mi.ListType | mi.SetType | mi.FrozenSetType | mi.VarTupleType):
        return [_sample(t.item_type, depth + 1) for _ in range(t.min_length or 0)]
    if isinstance(t, mi.DictType):
        return {}
    return None  # custom and extension types: nothing sensible to invent


def accepted(tp: Any, value: Any) -> bool:
    """Whether ``value`` decodes into ``tp`` (the sample is only printed if it does)."""
    try:
        msgspec.convert(value, tp, str_keys=True)
    except (msgspec.ValidationError, TypeError, ValueError):
        return False
    return True
