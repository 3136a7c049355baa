"""Payload envelope codec: the original's nested envelopes, plain JSON, errors with paths."""

from __future__ import annotations

import json
from typing import Any

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tpf.core import codec
from tpf.core.codec import canonical_digest, decode_payload, encode_payload, java_type_id, json_text
from tpf.core.errors import ValidationError
from tpf.core.records import TRANSITION_ENCODING, PayloadEnvelope

ENC = TRANSITION_ENCODING


def env(type_id: str | None, payload: Any) -> dict[str, Any]:
    """An envelope dict whose ``payload`` is the JSON text of ``payload``."""
    return {"payloadTypeId": type_id, "payloadEncoding": ENC, "payload": json.dumps(payload)}


def test_spec_nested_map_completion_decodes() -> None:
    # Built by string escaping exactly as the spec shows it on the wire.
    order_id = "0f8fad5b-d9cb-469f-a165-70867728950e"
    inner = {
        "items": {
            "orderId": env("java.lang.String", order_id),
            "decidedAt": env("java.lang.String", "2025-10-09T10:00:00Z"),
            "note": env("java.lang.String", "see you"),
        }
    }
    outer = {"items": {"accepted": env("java.util.Map", inner)}}
    wire = json.dumps({"responsePayload": env("java.util.Map", outer)})
    assert '\\\\\\"' in wire  # three levels of escaping, as in the spec example
    type_id, value = decode_payload(json.loads(wire)["responsePayload"], field="responsePayload")
    assert type_id == "java.util.Map"
    assert value == {
        "accepted": {"orderId": order_id, "decidedAt": "2025-10-09T10:00:00Z", "note": "see you"}
    }


def test_list_set_null_and_scalars() -> None:
    items = [env("java.lang.Long", 1), env("null", None), env("java.lang.Boolean", True)]
    assert decode_payload(env("java.util.List", {"items": items})) == (
        "java.util.List",
        [1, None, True],
    )
    assert decode_payload(env("java.util.Set", {"items": [env("java.lang.String", "a")]}))[1] == [
        "a"
    ]
    assert decode_payload(env("null", None)) == ("null", None)
    assert decode_payload(env("java.lang.String", "x")) == ("java.lang.String", "x")
    assert decode_payload(env("java.lang.Integer", 7))[1] == 7
    assert decode_payload(env("java.lang.Double", 2.5))[1] == 2.5
    assert decode_payload(env("java.lang.Double", 2))[1] == 2
    assert decode_payload(env("java.math.BigDecimal", "27.50"))[1] == "27.50"
    assert decode_payload(env("java.math.BigDecimal", 27.5))[1] == 27.5
    assert decode_payload(env("java.util.UUID", "u"))[1] == "u"


def test_dto_type_ids_give_the_plain_object() -> None:
    dto = {"requestId": "r", "totalAmount": "27.50"}
    assert decode_payload(env("com.example.OrderDto", dto)) == ("com.example.OrderDto", dto)
    assert decode_payload({"payloadTypeId": None, "payload": '{"a":1}'}) == (None, {"a": 1})


def test_encoding_is_optional_but_checked() -> None:
    assert decode_payload({"payloadTypeId": "java.lang.Long", "payload": "3"})[1] == 3


@pytest.mark.parametrize(
    "plain",
    [
        {"customerName": "Ada"},
        [1, 2],
        "text",
        3,
        None,
        {"payload": "not an envelope without a type id"},
    ],
)
def test_plain_json_is_accepted_as_is(plain: Any) -> None:
    assert decode_payload(plain) == (None, plain)


@pytest.mark.parametrize(
    ("obj", "message"),
    [
        (
            {"payloadTypeId": "X", "payloadEncoding": "application/xml", "payload": "1"},
            "inputPayload.payloadEncoding: unsupported encoding 'application/xml'",
        ),
        ({"payloadTypeId": "X", "payload": "{nope"}, "inputPayload.payload: invalid JSON text"),
        (
            {"payloadTypeId": "X", "payload": {"a": 1}},
            "inputPayload.payload: must be a JSON text (a string), got an object",
        ),
        ({"payloadTypeId": "X"}, "inputPayload.payload: is required"),
        ({"payloadTypeId": 5, "payload": "1"}, "inputPayload.payloadTypeId"),
        (
            {"payloadTypeId": "java.util.Map", "payload": '{"items":[1]}'},
            "inputPayload.payload.items: expected an object, got an array",
        ),
        (
            {"payloadTypeId": "java.util.Map", "payload": "[1]"},
            'inputPayload.payload: expected an object with an "items" member',
        ),
        (
            {"payloadTypeId": "java.util.List", "payload": '{"items":{}}'},
            "inputPayload.payload.items: expected an array, got an object",
        ),
        (
            {"payloadTypeId": "java.util.Map", "payload": '{"items":{" ":1}}'},
            "inputPayload.payload.items: map keys must be non-blank",
        ),
        (
            {"payloadTypeId": "java.lang.Long", "payload": '"7"'},
            "inputPayload.payload: a java.lang.Long payload cannot be a string",
        ),
        (
            {"payloadTypeId": "java.lang.Long", "payload": "true"},
            "inputPayload.payload: a java.lang.Long payload cannot be a boolean",
        ),
        (
            {"payloadTypeId": "java.lang.Boolean", "payload": "1"},
            "inputPayload.payload: a java.lang.Boolean payload cannot be a number",
        ),
    ],
)
def test_errors_name_the_field_path(obj: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError) as info:
        decode_payload(obj, field="inputPayload")
    assert info.value.message.startswith(message), info.value.message


def test_nested_errors_name_the_nested_path() -> None:
    bad_inner = {"payloadTypeId": "java.lang.String", "payload": "{broken"}
    obj = env(
        "java.util.Map",
        {"items": {"accepted": env("java.util.Map", {"items": {"orderId": bad_inner}})}},
    )
    with pytest.raises(ValidationError) as info:
        decode_payload(obj, field="responsePayload")
    assert info.value.message.startswith(
        "responsePayload.payload.items.accepted.payload.items.orderId.payload: invalid JSON text"
    )
    listed = env("java.util.List", {"items": [env("java.lang.Long", 1), {"payloadTypeId": "x"}]})
    with pytest.raises(ValidationError, match=r"^p\.payload\.items\[1\]\.payload: is required"):
        decode_payload(listed, field="p")


def test_nesting_depth_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    # Escaping doubles per level, so real depths stay small; lower the cap to exercise it.
    monkeypatch.setattr(codec, "MAX_DEPTH", 3)
    obj: dict[str, Any] = env("java.lang.Long", 1)
    for _ in range(5):
        obj = {"payloadTypeId": "java.util.List", "payload": json_text({"items": [obj]})}
    with pytest.raises(ValidationError, match="nested deeper than 3"):
        decode_payload(obj)


def test_encode_is_compact_and_typed() -> None:
    class Dto(msgspec.Struct, rename="camel"):
        order_id: str

    envelope = encode_payload(Dto(order_id="o"), "com.example.Dto")
    assert envelope == PayloadEnvelope(payload_type_id="com.example.Dto", payload='{"orderId":"o"}')
    assert msgspec.to_builtins(envelope) == {
        "payloadTypeId": "com.example.Dto",
        "payloadEncoding": ENC,
        "payload": '{"orderId":"o"}',
    }
    assert encode_payload(None, "null").payload == "null"
    with pytest.raises(TypeError):
        encode_payload([1], "java.util.Map")
    with pytest.raises(TypeError):
        encode_payload({"a": 1}, "java.util.List")


def test_encoded_map_nests_envelopes_like_the_original() -> None:
    envelope = encode_payload({"accepted": {"orderId": "u", "n": 1}}, "java.util.Map")
    outer = json.loads(envelope.payload)
    accepted = outer["items"]["accepted"]
    assert accepted["payloadTypeId"] == "java.util.Map"
    inner = json.loads(accepted["payload"])["items"]
    assert inner["orderId"] == {
        "payloadTypeId": "java.lang.String",
        "payloadEncoding": ENC,
        "payload": '"u"',
    }
    assert inner["n"]["payloadTypeId"] == "java.lang.Long"


def test_java_type_ids() -> None:
    assert [java_type_id(v) for v in (None, True, 1, 1.5, "s", {}, [])] == [
        "null",
        "java.lang.Boolean",
        "java.lang.Long",
        "java.lang.Double",
        "java.lang.String",
        "java.util.Map",
        "java.util.List",
    ]
    with pytest.raises(TypeError):
        java_type_id(object())


def test_canonical_digest_ignores_key_order_only() -> None:
    assert canonical_digest({"a": 1, "b": [1, 2]}) == canonical_digest({"b": [1, 2], "a": 1})
    assert canonical_digest({"a": 1}) != canonical_digest({"a": 2})
    assert canonical_digest({"a": 1}).startswith("sha256:")
    assert json_text({"b": 1, "a": [1]}) == '{"b":1,"a":[1]}'


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.text(min_size=1).filter(str.strip), children, max_size=4)
    ),
    max_leaves=20,
)


@given(json_values)
def test_round_trip_property(value: Any) -> None:
    type_id = java_type_id(value)
    wire = json.loads(json.dumps(msgspec.to_builtins(encode_payload(value, type_id))))
    assert decode_payload(wire, field="x") == (type_id, value)


@given(json_values)
def test_plain_round_trip_property(value: Any) -> None:
    envelope = msgspec.to_builtins(encode_payload(value, "com.example.Dto"))
    assert decode_payload(envelope) == ("com.example.Dto", value)
