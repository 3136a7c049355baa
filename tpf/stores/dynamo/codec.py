"""DynamoDB attribute values <-> Python values, and record JSON.

aiobotocore speaks the low-level wire format (``{"S": "x"}``, ``{"N": "1"}``); boto3's
serializer is not a dependency, and the stores only need strings, integers, binary and
booleans, so these few typed helpers are the whole codec. Each record is stored whole as msgspec
JSON in ``record_json`` (the simplest faithful round trip) next to the attributes that keys,
indexes and conditions need.
"""

from __future__ import annotations

from typing import Any

import msgspec

from tpf.core.records import (
    AwaitInteraction,
    ExecutionRecord,
    ReleaseRecord,
    WorkerEvent,
    WorkerRecord,
)

Item = dict[str, Any]
"""One item (or key, or expression-value map) in DynamoDB's attribute-value wire format."""


def S(value: str) -> dict[str, str]:
    return {"S": value}


def N(value: int) -> dict[str, str]:
    return {"N": str(value)}


def B(value: bytes) -> dict[str, bytes]:
    return {"B": value}


def BOOL(value: bool) -> dict[str, bool]:
    return {"BOOL": value}


def get_s(item: Item, name: str) -> str:
    return str(item[name]["S"])


def opt_s(item: Item, name: str) -> str | None:
    value = item.get(name)
    return None if value is None else str(value["S"])


def get_n(item: Item, name: str) -> int:
    return int(item[name]["N"])


def opt_n(item: Item, name: str, default: int = 0) -> int:
    value = item.get(name)
    return default if value is None else int(value["N"])


def get_b(item: Item, name: str) -> bytes:
    value = item[name]["B"]
    return value if isinstance(value, bytes) else bytes(value)


def put_opt_s(item: Item, name: str, value: str | None) -> None:
    """Set a string attribute, or leave it absent for ``None`` (sparse index keys)."""
    if value is not None:
        item[name] = S(value)


_encode = msgspec.json.Encoder().encode
_decode_execution = msgspec.json.Decoder(ExecutionRecord).decode
_decode_interaction = msgspec.json.Decoder(AwaitInteraction).decode
_decode_release = msgspec.json.Decoder(ReleaseRecord).decode
_decode_worker_event = msgspec.json.Decoder(WorkerEvent).decode
_decode_worker = msgspec.json.Decoder(WorkerRecord).decode


def to_json(value: Any) -> str:
    return _encode(value).decode("utf-8")


def to_json_bytes(value: Any) -> bytes:
    return _encode(value)


def execution_from_json(text: str) -> ExecutionRecord:
    return _decode_execution(text)


def interaction_from_json(text: str) -> AwaitInteraction:
    return _decode_interaction(text)


def release_from_json(text: str) -> ReleaseRecord:
    return _decode_release(text)


def worker_event_from_json(text: str) -> WorkerEvent:
    return _decode_worker_event(text)


def worker_from_json(text: str) -> WorkerRecord:
    return _decode_worker(text)
