"""Authoring streams (issue 13): cardinalities, branch groups, aggregation inputs, the contract.

Mistakes fail when the pipeline is built or validated, naming the step and what is wrong; the
contract records each step's cardinality (``ONE_TO_ONE`` everywhere else, so scalar pipelines
keep their hash) and an itemized await's ``timeoutResponse``; the remote envelope carries
``itemIndex`` only on a per-item command.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import msgspec
import pytest

from demos.restaurant_approval.pipeline import pipeline as restaurant_pipeline
from tests.engine.stream_pipelines import Bad, Good, Verdict, stream_pipeline
from tpf.authoring.contract import contract_document
from tpf.core.errors import ConfigError
from tpf.core.records import TransitionCommand
from tpf.pipeline import Pipeline, StepContext
from tpf.transports.workers.remote.envelopes import encode_command


class In(msgspec.Struct):
    n: int


def test_an_unknown_cardinality_is_refused_naming_the_choices() -> None:
    p = Pipeline("p")
    with pytest.raises(ConfigError, match="ONE_TO_ONE, ONE_TO_MANY, MANY_TO_ONE"):

        @p.step("S", cardinality="MANY_TO_MANY")
        def s(x: In) -> In:
            return x


def test_an_expansion_must_return_an_iterator_of_items() -> None:
    p = Pipeline("p")
    with pytest.raises(ConfigError, match="ONE_TO_MANY step's return must be annotated Iterator"):

        @p.step("S", cardinality="ONE_TO_MANY")
        def s(x: In) -> In:
            return x


def test_an_aggregation_takes_an_iterator_and_says_its_form() -> None:
    p = Pipeline("p")

    @p.step("E", cardinality="ONE_TO_MANY")
    def e(x: In) -> Iterator[In]:
        yield x

    @p.step("A", cardinality="MANY_TO_ONE")
    async def a(xs: AsyncIterator[In]) -> In:
        return In(n=0)

    agg = p.steps[1]
    assert (agg.input_type, agg.item_form) == (In, "async_iterator")
    assert p.steps[0].output_type is In  # an expansion's output type is its item type


def test_a_branch_group_must_cover_every_variant() -> None:
    p = Pipeline("p")

    @p.step("E", cardinality="ONE_TO_MANY")
    def e(x: In) -> Iterator[In]:
        yield x

    p.await_step("Check", step_id="Check", output=Verdict, timeout="PT1M")

    @p.step("Good only")
    def g(v: Good) -> In:
        return In(n=v.n)

    with pytest.raises(ConfigError, match=r"no step for variant.*Bad"):
        p.validate()


def test_branch_steps_are_found_on_a_one_of_wrapper_and_on_a_union() -> None:
    pipeline, _ = stream_pipeline()
    _, branches = pipeline.stream()
    assert {k: (b.variant, b.field) for k, b in branches.items()} == {
        2: (Good, "good"),
        3: (Bad, "bad"),
    }
    p = Pipeline("u")

    @p.step("Split")
    def split(x: In) -> Good | Bad:
        return Good(n=x.n)

    @p.step("G")
    def on_good(v: Good) -> In:
        return In(n=1)

    @p.step("B")
    def on_bad(v: Bad) -> In:
        return In(n=2)

    assert {k: b.field for k, b in p.stream()[1].items()} == {1: None, 2: None}


def test_a_per_item_step_cannot_take_a_context() -> None:
    p = Pipeline("p")

    @p.step("E", cardinality="ONE_TO_MANY")
    def e(x: In) -> Iterator[In]:
        yield x

    @p.step("Per item")
    def per(x: In, ctx: StepContext) -> In:
        return x

    with pytest.raises(ConfigError, match="per-item step cannot take a StepContext"):
        p.validate()


def test_the_contract_records_cardinalities_and_the_timeout_response() -> None:
    pipeline, _ = stream_pipeline()
    steps = contract_document(pipeline)["steps"]
    assert [s["cardinality"] for s in steps] == [
        "ONE_TO_MANY",
        "ONE_TO_ONE",
        "ONE_TO_ONE",
        "ONE_TO_ONE",
        "MANY_TO_ONE",
    ]
    assert steps[1]["timeoutResponse"] == {"good": None, "bad": {"n": -1, "why": "timeout"}}
    scalar = contract_document(restaurant_pipeline)["steps"]
    assert {s["cardinality"] for s in scalar} == {"ONE_TO_ONE"}
    assert not any("timeoutResponse" in s for s in scalar)


def _command(item_index: int | None) -> TransitionCommand:
    return TransitionCommand(
        tenant_id="t",
        execution_id="e",
        pipeline_id="p",
        contract_version="c",
        release_version="r",
        current_step_index=2,
        transition_key="e:2:0",
        trace_id="e:2:0",
        item_index=item_index,
    )


def test_the_envelope_carries_item_index_only_for_a_per_item_command() -> None:
    assert b"itemIndex" not in encode_command(_command(None))
    assert b'"itemIndex":4' in encode_command(_command(4))


def test_an_aggregations_iterator_matches_how_it_runs() -> None:
    p = Pipeline("p")
    with pytest.raises(ConfigError, match="async def aggregation takes AsyncIterator"):

        @p.step("A", cardinality="MANY_TO_ONE")
        async def a(xs: Iterator[In]) -> In:
            return In(n=0)

    with pytest.raises(ConfigError, match="needs an async def aggregation"):

        @p.step("B", cardinality="MANY_TO_ONE")
        def b(xs: AsyncIterator[In]) -> In:
            return In(n=0)
