"""Authoring API: types from annotations, await defaults, validation, decoding, running."""

from __future__ import annotations

import threading

import msgspec
import pytest

from tpf.authoring.pipeline import Pipeline
from tpf.core.errors import ConfigError, ValidationError


class Order(msgspec.Struct, rename="camel", kw_only=True):
    order_id: str
    total_cents: int


class Checked(msgspec.Struct, rename="camel", kw_only=True):
    order_id: str
    ok: bool


class Decision(msgspec.Struct, rename="camel", kw_only=True):
    approved: bool


def make_pipeline() -> Pipeline:
    p = Pipeline("org.example.orders", type_ids={Order: "com.example.OrderDto"})

    @p.step("Check")
    def check(order: Order) -> Checked:
        return Checked(order_id=order.order_id, ok=order.total_cents > 0)

    p.await_step(
        "Approve",
        step_id="ApproveService",
        output=Decision,
        timeout="PT30M",
        key_fields=["orderId"],
    )

    @p.step("Finish", step_id="FinishService")
    async def finish(decision: Decision) -> str:
        return "yes" if decision.approved else "no"

    return p


def test_types_come_from_annotations_and_ids_from_mapping_or_qualname() -> None:
    p = make_pipeline()
    check, approve, finish = p.steps
    assert (check.index, check.kind, check.step_id) == (0, "internal", "Check")
    assert check.input_type is Order and check.output_type is Checked
    assert check.input_type_id == "com.example.OrderDto"
    assert check.output_type_id == f"{__name__}.Checked"
    assert finish.step_id == "FinishService" and finish.output_type_id == "java.lang.String"
    assert approve.fn is None and finish.fn is not None


def test_await_defaults_input_to_previous_output() -> None:
    approve = make_pipeline().steps[1]
    assert approve.kind == "await"
    assert approve.input_type is Checked
    assert approve.timeout_ms == 30 * 60 * 1000
    assert approve.key_fields == ("orderId",)
    assert approve.transport == "interaction-api"
    assert approve.assignee is None and approve.group is None


def test_await_as_first_step_needs_an_input() -> None:
    p = Pipeline("p")
    with pytest.raises(ConfigError, match="input="):
        p.await_step("A", step_id="A", output=Decision, timeout=1000)
    p.await_step("A", step_id="A", output=Decision, timeout=1000, input=Order)
    assert p.steps[0].input_type is Order


def test_type_id_for_unions_generics_and_builtins() -> None:
    p = Pipeline("p", type_ids={Order: "X.Order"})
    assert p.type_id(Order | Decision) == f"X.Order | {__name__}.Decision"
    assert p.type_id(list[Order]) == "java.util.List<X.Order>"
    assert p.type_id(dict[str, int]) == "java.util.Map<java.lang.String, java.lang.Long>"
    assert p.type_id(int) == "java.lang.Long"
    assert p.type_id(None) == "null"


def test_validate_requires_a_step() -> None:
    with pytest.raises(ConfigError, match="no steps"):
        Pipeline("p").contract()


def test_validate_rejects_duplicate_step_ids() -> None:
    p = Pipeline("p")

    @p.step("A", step_id="same")
    def a(x: int) -> int:
        return x

    @p.step("B", step_id="same")
    def b(x: int) -> int:
        return x

    with pytest.raises(ConfigError, match="duplicate step id 'same'"):
        p.validate()


def test_validate_rejects_non_positive_await_timeout() -> None:
    p = Pipeline("p")
    p.await_step("A", step_id="A", output=Decision, timeout=0, input=Order)
    with pytest.raises(ConfigError, match="timeout > 0"):
        p.validate()


def test_validate_checks_key_fields_by_encoded_name() -> None:
    p = Pipeline("p")
    p.await_step(
        "A", step_id="A", output=Decision, timeout="PT1M", input=Order, key_fields=["order_id"]
    )  # the python name, not the wire name
    with pytest.raises(ConfigError, match="key field 'order_id' is not a field"):
        p.validate()


def test_key_fields_must_not_be_a_bare_string() -> None:
    with pytest.raises(ConfigError, match="sequence"):
        Pipeline("p").await_step(
            "A", step_id="A", output=Decision, timeout=1, input=Order, key_fields="orderId"
        )


def test_step_functions_need_annotations() -> None:
    p = Pipeline("p")
    with pytest.raises(ConfigError, match="return type"):

        @p.step("A")
        def a(x: int):  # type: ignore[no-untyped-def]
            return x

    with pytest.raises(ConfigError, match="annotate parameter 'x'"):

        @p.step("B")
        def b(x) -> int:  # type: ignore[no-untyped-def]
            return 1

    with pytest.raises(ConfigError, match="parameter"):

        @p.step("C")
        def c() -> int:
            return 1


def test_decode_input_converts_camel_json_to_the_struct() -> None:
    p = make_pipeline()
    assert p.decode_input(0, {"orderId": "o1", "totalCents": 5}) == Order(
        order_id="o1", total_cents=5
    )


def test_decode_input_errors_name_the_step_and_path() -> None:
    p = make_pipeline()
    with pytest.raises(ValidationError) as info:
        p.decode_input(0, {"orderId": "o1", "totalCents": "five"})
    message = info.value.message
    assert "step 0 'Check'" in message and "com.example.OrderDto" in message
    assert "$.totalCents" in message
    with pytest.raises(ValidationError, match="missing required field `orderId`"):
        p.decode_input(0, {"totalCents": 1})


def test_to_plain_round_trips_through_decode() -> None:
    p = make_pipeline()
    plain = p.to_plain(Checked(order_id="o", ok=True))
    assert plain == {"orderId": "o", "ok": True}
    assert p.decode_input(1, plain) == Checked(order_id="o", ok=True)


async def test_run_step_calls_sync_and_async_steps() -> None:
    p = make_pipeline()
    checked = await p.run_step(0, Order(order_id="o", total_cents=3))
    assert checked == Checked(order_id="o", ok=True)
    assert await p.run_step(2, Decision(approved=False)) == "no"
    with pytest.raises(TypeError, match="await step"):
        await p.run_step(1, checked)
    with pytest.raises(IndexError):
        await p.run_step(9, None)


async def test_sync_steps_run_in_a_worker_thread_and_async_steps_on_the_loop() -> None:
    p = Pipeline("org.example.threads")
    seen: dict[str, str] = {}

    @p.step("Sync")
    def sync_step(value: str) -> str:
        seen["sync"] = threading.current_thread().name
        return value

    @p.step("Async")
    async def async_step(value: str) -> str:
        seen["async"] = threading.current_thread().name
        return value

    assert await p.run_step(0, "x") == "x" and await p.run_step(1, "x") == "x"
    assert seen["async"] == threading.current_thread().name
    assert seen["sync"] != threading.current_thread().name


def test_contract_is_cached_and_invalidated_by_new_steps() -> None:
    p = make_pipeline()
    first = p.contract()
    assert p.contract() is first

    @p.step("Extra")
    def extra(x: str) -> str:
        return x

    assert p.contract().contract_hash != first.contract_hash
