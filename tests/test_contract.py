"""Contract: deterministic hash, every shape change changes it, wire names, round trip."""

from __future__ import annotations

import hashlib
from collections.abc import Callable

import msgspec
import orjson
import pytest

from tpf.authoring.contract import build_contract, contract_to_json, parse_contract
from tpf.authoring.pipeline import Pipeline
from tpf.core.errors import ValidationError


class In(msgspec.Struct, rename="camel"):
    order_id: str


class Mid(msgspec.Struct, rename="camel"):
    order_id: str
    note: str = ""


class Out(msgspec.Struct, rename="camel"):
    done: bool


def build(
    *,
    first_name: str = "First",
    mid_id: str = "com.example.Mid",
    timeout: str = "PT30M",
    key_fields: tuple[str, ...] = ("orderId",),
    swap: bool = False,
) -> Pipeline:
    p = Pipeline("com.example.pipe", type_ids={In: "com.example.In", Mid: mid_id})

    def first(x: In) -> Mid:
        return Mid(order_id=x.order_id)

    def second(x: Mid) -> Mid:
        return x

    steps: list[tuple[str, Callable[..., object]]] = [(first_name, first), ("Second", second)]
    if swap:
        steps.reverse()
    for name, fn in steps:
        p.step(name)(fn)
    p.await_step("Wait", step_id="WaitService", output=Out, timeout=timeout, key_fields=key_fields)
    return p


def test_hash_is_deterministic_and_version_derives_from_it() -> None:
    a, b = build().contract(), build().contract()
    assert a.contract_hash == b.contract_hash
    assert len(a.contract_hash) == 64
    assert a.contract_version == "sha256:" + a.contract_hash


@pytest.mark.parametrize(
    "changed",
    [
        {"first_name": "Renamed"},
        {"mid_id": "com.example.Mid2"},
        {"swap": True},
        {"timeout": "PT31M"},
        {"key_fields": ("orderId", "note")},
    ],
)
def test_shape_changes_change_the_hash(changed: dict[str, object]) -> None:
    assert build(**changed).contract().contract_hash != build().contract().contract_hash  # type: ignore[arg-type]


def test_wire_shape_uses_spec_field_names() -> None:
    p = build()
    data = orjson.loads(contract_to_json(p.contract()))
    assert data["schemaVersion"] == 1
    assert data["pipelineId"] == "com.example.pipe"
    assert data["transport"] == "LOCAL" and data["platform"] == "COMPUTE"
    assert data["capabilities"] == {
        "localTransitionExecution": True,
        "transitionWorkerProtocols": ["local"],
    }
    step0, _, wait = data["steps"]
    assert step0 == {
        "index": 0,
        "authoredName": "First",
        "stepId": "First",
        "kind": "internal",
        "cardinality": "ONE_TO_ONE",
        "inputTypeId": "com.example.In",
        "outputTypeId": "com.example.Mid",
        "runtimeClass": None,
        "clientClass": None,
        "awaitTransport": None,
    }
    assert wait["kind"] == "await" and wait["stepId"] == "WaitService"
    assert wait["awaitTransport"] == "interaction-api"


def test_hash_is_sha256_of_canonical_json_without_hash_fields() -> None:
    p = build()
    contract = p.contract()
    document = orjson.loads(contract_to_json(contract, p))
    assert document["steps"][2]["awaitTimeoutMs"] == 1_800_000
    assert document["steps"][2]["idempotencyKeyFields"] == ["orderId"]
    del document["contractHash"], document["contractVersion"]
    canonical = orjson.dumps(document, option=orjson.OPT_SORT_KEYS)
    assert hashlib.sha256(canonical).hexdigest() == contract.contract_hash


def test_contract_to_json_refuses_a_foreign_pipeline() -> None:
    with pytest.raises(ValueError, match="not built from"):
        contract_to_json(build().contract(), build(first_name="Other"))


def test_round_trip() -> None:
    p = build()
    contract = p.contract()
    assert parse_contract(contract_to_json(contract)) == contract
    assert parse_contract(contract_to_json(contract, p)) == contract
    assert build_contract(p) == contract


def test_parse_accepts_v3_with_unknown_fields() -> None:
    data = orjson.loads(contract_to_json(build().contract()))
    data.update(schemaVersion=3, canonicalTypes={"x": 1}, composition={}, futureField=[1])
    data["steps"][0]["somethingNew"] = True
    parsed = parse_contract(orjson.dumps(data))
    assert parsed.schema_version == 3 and len(parsed.steps) == 3


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d.update(schemaVersion=4), "schemaVersion 4"),
        (lambda d: d.update(schemaVersion=0), "schemaVersion 0"),
        (lambda d: d.pop("pipelineId"), "pipelineId"),
        (lambda d: d.update(pipelineId=" "), "pipelineId and contractVersion"),
        (lambda d: d.update(steps="nope"), "steps"),
    ],
)
def test_parse_rejects_bad_contracts(
    mutate: Callable[[dict[str, object]], object], message: str
) -> None:
    data = orjson.loads(contract_to_json(build().contract()))
    mutate(data)
    with pytest.raises(ValidationError, match=message):
        parse_contract(orjson.dumps(data))


def test_parse_rejects_non_json() -> None:
    with pytest.raises(ValidationError, match="invalid pipeline contract"):
        parse_contract(b"{not json")


def test_an_await_that_ignores_unknown_fields_says_so_in_the_contract() -> None:
    def with_wait(**flags: bool) -> Pipeline:
        p = Pipeline("com.example.lenient", type_ids={In: "com.example.In"})

        def first(x: In) -> In:
            return x

        p.step("First")(first)
        p.await_step("Wait", step_id="WaitService", output=Out, timeout="PT1M", **flags)
        return p

    strict, lenient = with_wait(), with_wait(ignore_unknown_fields=True)
    strict_doc = orjson.loads(contract_to_json(strict.contract(), strict))
    lenient_doc = orjson.loads(contract_to_json(lenient.contract(), lenient))
    # Strict is the default and is not written, so existing contracts keep their hash.
    assert "ignoreUnknownFields" not in strict_doc["steps"][1]
    assert strict.contract() == with_wait(ignore_unknown_fields=False).contract()
    assert lenient_doc["steps"][1]["ignoreUnknownFields"] is True
    assert lenient.contract().contract_hash != strict.contract().contract_hash


def test_a_pinned_await_transport_is_recorded_and_hashed() -> None:
    from tpf.authoring.await_transports import InteractionApi, Kafka, Sqs

    def with_transport(transport: object = None) -> Pipeline:
        p = Pipeline("com.example.brokered", type_ids={In: "com.example.In"})

        def first(x: In) -> In:
            return x

        p.step("First")(first)
        p.await_step("Wait", step_id="WaitService", output=Out, timeout="PT1M", transport=transport)
        return p

    unpinned = with_transport()
    doc = orjson.loads(contract_to_json(unpinned.contract(), unpinned))["steps"][1]
    # Unpinned: the same document (and so hash) as before transports could be pinned.
    assert doc["awaitTransport"] == "interaction-api" and "awaitTransportSpec" not in doc
    kafka = with_transport(Kafka("req", "res", key="correlationId", headers={"x-a": "1"}))
    kafka_doc = orjson.loads(contract_to_json(kafka.contract(), kafka))["steps"][1]
    assert kafka_doc["awaitTransport"] == "kafka"
    assert kafka_doc["awaitTransportSpec"] == {
        "type": "kafka",
        "request": {"topic": "req", "key": "correlationId"},
        "response": {"topic": "res"},
        "headers": {"x-a": "1"},
    }
    assert kafka.contract().steps[1].await_transport == "kafka"
    sqs = with_transport(Sqs("http://q/req", "http://q/res"))
    pinned_rest = with_transport(InteractionApi())
    hashes = {
        p.contract().contract_hash
        for p in (unpinned, kafka, sqs, pinned_rest, with_transport(Kafka("req", "other")))
    }
    assert len(hashes) == 5
    # The mapping form is the same transport as the object form.
    mapping = with_transport(
        {
            "type": "kafka",
            "request": {"topic": "req", "key": "correlationId"},
            "response.topic": "res",
            "headers": {"x-a": "1"},
        }
    )
    assert mapping.contract().contract_hash == kafka.contract().contract_hash


def test_a_parsed_contract_carries_the_await_extras_it_was_hashed_with() -> None:
    """The registered contract tells a coordinator that does not host the code how each await
    parks and where its requests go; absent extras stay absent (the hash is unchanged)."""
    from tpf.authoring.await_transports import Sqs, transport_document

    p = Pipeline("com.example.parsed", type_ids={In: "com.example.In"})

    def first_step(x: In) -> In:
        return x

    p.step("First")(first_step)
    pinned = Sqs("http://q/req", "http://q/res")
    p.await_step(
        "Wait",
        step_id="WaitService",
        output=Out,
        timeout="PT1M",
        key_fields=("orderId",),
        transport=pinned,
    )
    written = contract_to_json(p.contract(), p)
    parsed = parse_contract(written)
    first, wait = parsed.steps
    assert wait.await_timeout_ms == 60_000
    assert wait.idempotency_key_fields == ("orderId",)
    assert wait.await_transport_spec == transport_document(pinned)
    assert wait.ignore_unknown_fields is None  # not set: absent, not false
    assert first.await_timeout_ms is None and first.await_transport_spec is None
    # Written back without the pipeline, it is the same document, so it hashes the same.
    assert orjson.loads(contract_to_json(parsed)) == orjson.loads(written)
