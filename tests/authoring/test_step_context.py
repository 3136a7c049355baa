"""Declaring ``ctx: StepContext``: what the spec and contract record, the context's reads, and
its errors; the setting that bounds stored outputs; the stores' handling of the stored field."""

from __future__ import annotations

import msgspec
import pytest

import tpf
import tpf.pipeline
from tpf.authoring.context import (
    ContextTracker,
    StepContext,
    UnknownStepOutput,
    stored_for_readers,
)
from tpf.authoring.contract import contract_document
from tpf.authoring.pipeline import Pipeline
from tpf.config import load_settings
from tpf.core.contexts import ContextTooLarge, with_outputs
from tpf.core.errors import ConfigError, TerminalError
from tpf.core.records import (
    AwaitContextData,
    ExecutionRecord,
    ExecutionStatus,
    StepContextData,
)
from tpf.stores.dynamo.execution_items import split_payloads


class In(msgspec.Struct, frozen=True):
    n: int


class Out(msgspec.Struct, frozen=True):
    text: str


def two_transitions() -> Pipeline:
    """``First`` → await ``Wait`` → ``Reader`` (takes ctx) → ``Last`` (no ctx)."""
    p = Pipeline("test.ctx.authoring")

    @p.step("First")
    def first(value: In) -> Out:
        return Out(text=str(value.n))

    p.await_step("Wait", step_id="Wait", output=Out, timeout="PT1M")

    @p.step("Reader")
    def reader(value: Out, ctx: StepContext) -> Out:
        return Out(text=ctx.output("First").text + value.text)

    @p.step("Last")
    def last(value: Out) -> Out:
        return value

    return p


def test_the_public_import_paths() -> None:
    assert tpf.StepContext is StepContext
    assert tpf.pipeline.StepContext is StepContext


def test_the_spec_and_contract_record_which_steps_take_a_context() -> None:
    p = two_transitions()
    assert [s.context_param for s in p.steps] == [None, None, "ctx", None]
    steps = p.contract().steps
    assert [s.takes_context for s in steps] == [None, None, True, None]
    # Only the reader's own output after the await, and only First's before it, are stored.
    assert [stored_for_readers(p.steps, i) for i in range(4)] == [True, False, False, False]


def test_a_pipeline_without_contexts_keeps_its_contract_hash() -> None:
    def build(with_ctx: bool) -> Pipeline:
        p = Pipeline("test.ctx.hash")
        if with_ctx:

            @p.step("Only")
            def only_ctx(value: In, ctx: StepContext) -> In:
                return value
        else:

            @p.step("Only")
            def only(value: In) -> In:
                return value

        return p

    plain, reading = build(False), build(True)
    assert plain.contract().contract_version != reading.contract().contract_version
    # Absent, not null, from what the hash covers: older contracts keep their hash.
    assert "takesContext" not in contract_document(plain)["steps"][0]
    assert contract_document(reading)["steps"][0]["takesContext"] is True


def test_a_misdeclared_context_is_refused() -> None:
    p = Pipeline("test.ctx.bad")
    with pytest.raises(ConfigError, match="only one parameter may be a StepContext"):

        @p.step("Two")
        def two(value: In, a: StepContext, b: StepContext) -> In:
            return value

    with pytest.raises(ConfigError, match="first parameter is the input"):

        @p.step("First")
        def first(ctx: StepContext) -> In:
            return In(n=1)


def test_the_context_decodes_and_names_what_it_knows() -> None:
    p = two_transitions()
    ctx = StepContext(p, 2, {"n": 4}, {"First": {"text": "4"}, "Wait": {"text": "w"}})
    assert ctx.input == In(n=4)
    assert ctx.output("First") == Out(text="4")
    assert ctx.step_names == ("First", "Wait")
    with pytest.raises(UnknownStepOutput) as raised:
        ctx.output("Missing")
    assert isinstance(raised.value, KeyError)
    assert str(raised.value) == (
        "no output of step 'Missing' in this step's context (known: 'First', 'Wait')"
    )
    with pytest.raises(KeyError, match="'Last'"):
        ctx.output("Last")  # a later step's output is never an earlier one's


def test_the_tracker_builds_contexts_and_collects_what_to_store() -> None:
    p = two_transitions()
    data = StepContextData(
        input_payload={"n": 4},
        outputs={"First": {"text": "4"}},
        resumed_await=AwaitContextData(
            step_index=1, interaction_id="i-1", request_payload={"text": "4"}, actor="ann"
        ),
    )
    tracker = ContextTracker(p, 2, {"text": "w"}, data)
    ctx = tracker.context_for(2)
    assert ctx.output("Wait") == Out(text="w")  # the await's response, by its step name
    assert ctx.awaited is not None and ctx.awaited.step_name == "Wait"
    assert ctx.awaited.actor == "ann" and ctx.awaited.request == {"text": "4"}
    assert tracker.result_outputs() is None  # nothing after here needs storing
    # Without a context from the coordinator a transition after step 0 cannot give one.
    with pytest.raises(TerminalError, match="carries none"):
        ContextTracker(p, 2, {"text": "w"}, None).context_for(2)
    first = ContextTracker(p, 0, {"n": 4}, None)
    first.produced(0, {"text": "4"})
    assert first.result_outputs() is None  # a coordinator that sent none never gets outputs


def _record(**changes: object) -> ExecutionRecord:
    base = ExecutionRecord(
        tenant_id="t",
        execution_id="e-1",
        execution_key="k",
        pipeline_id="p",
        contract_version="c",
        release_version="r",
        status=ExecutionStatus.RUNNING,
    )
    return msgspec.structs.replace(base, **changes)


def test_stored_outputs_are_bounded_never_truncated() -> None:
    record = _record(context_payload={"A": "x" * 10})
    assert with_outputs(record, None, 100) is record
    grown = with_outputs(record, {"B": "y"}, 100)
    assert grown.context_payload == {"A": "x" * 10, "B": "y"}
    with pytest.raises(ContextTooLarge) as raised:
        with_outputs(record, {"B": "y" * 200}, 100)
    assert raised.value.code == "STEP_CONTEXT_TOO_LARGE"
    assert "'B'" in raised.value.message and "pipeline.context.max-bytes=100" in str(raised.value)


def test_the_bound_is_one_setting() -> None:
    assert load_settings({}).execution.context_max_bytes == 262_144
    env = {"PIPELINE_CONTEXT_MAX_BYTES": "1024"}
    assert load_settings(env).execution.context_max_bytes == 1024


def test_dynamo_chunks_a_large_stored_context() -> None:
    record = _record(context_payload={"Big": "z" * 400_000})
    record_json, moved = split_payloads(record)
    assert set(moved) == {"context"}
    assert b"zzzz" not in record_json
    assert msgspec.json.decode(moved["context"]) == record.context_payload
