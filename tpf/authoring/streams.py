"""Streams in the authoring API (issue 13): expansion, per-item steps, branches, aggregation.

A pipeline may expand one value into a stream of items and gather them again::

    @pipeline.step("Read Lines", cardinality="ONE_TO_MANY")
    def read(file: InputFile) -> Iterator[Line]: ...          # a sync or async generator

    pipeline.await_step("Check", step_id="check", output=Verdict, timeout="PT5M")  # per item

    @pipeline.step("Take Good")                                # a branch: Verdict is a union
    def good(v: Good) -> Outcome: ...

    @pipeline.step("Take Bad")
    def bad(v: Bad) -> Outcome: ...

    @pipeline.step("Summarize", cardinality="MANY_TO_ONE")
    def summarize(outcomes: Iterator[Outcome]) -> Summary: ...  # ordered by item

Between the expansion and the aggregation every step runs once per item, and an await there is
*itemized*: one interaction per item. A run of consecutive steps whose input types are the
variants of the preceding output is a **branch group**: each value takes exactly the step of its
variant. The preceding output is either a union of types (``Good | Bad``, tagged Structs) or a
one-of wrapper, a Struct whose fields are all optional (``{"approved": {...}}`` or
``{"unapproved": {...}}``, the original's shape): there the step of the field that is set
runs on that field's value.

A pipeline with an aggregation but no expansion takes its items as its input: submitted with
``inputShape: MULTI`` and a JSON array, each element runs the steps before the aggregation.

The aggregation's first parameter says how it receives the ordered per-item outputs:
``Iterator[T]``/``Iterable[T]`` (a sync iterator), ``AsyncIterator[T]``/``AsyncIterable[T]``
(an async one) or ``list[T]`` (all at once). The iterators read the outputs a page at a time.
"""

from __future__ import annotations

import collections.abc as cabc
import types
import typing
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import msgspec

from tpf.core.errors import ConfigError

if TYPE_CHECKING:
    from tpf.authoring.pipeline import StepSpec

CARDINALITIES = ("ONE_TO_ONE", "ONE_TO_MANY", "MANY_TO_ONE")
EXPANSION, AGGREGATION = "ONE_TO_MANY", "MANY_TO_ONE"

_ITERATOR_ORIGINS = {
    cabc.Iterator: "iterator",
    cabc.Iterable: "iterator",
    cabc.Generator: "iterator",
    cabc.AsyncIterator: "async_iterator",
    cabc.AsyncIterable: "async_iterator",
    cabc.AsyncGenerator: "async_iterator",
    list: "list",
    cabc.Sequence: "list",
}


def item_type(annotation: Any, where: str, what: str) -> tuple[Any, str]:
    """``(T, form)`` of an ``Iterator[T]``-like annotation (see the module docstring)."""
    origin = typing.get_origin(annotation)
    form = _ITERATOR_ORIGINS.get(origin) if origin is not None else None
    args = typing.get_args(annotation)
    if form is None or not args:
        raise ConfigError(
            f"{where}: {what} must be annotated Iterator[T], AsyncIterator[T] or list[T] "
            f"(got {annotation!r})"
        )
    return args[0], form


def variants(tp: Any) -> dict[Any, str | None] | None:
    """The branch variants of ``tp``: each variant type → the wrapper field carrying it
    (``None`` for a union member); ``None`` when ``tp`` does not branch."""
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        members = [arg for arg in typing.get_args(tp) if arg is not type(None)]
        return {member: None for member in members} if len(members) > 1 else None
    if isinstance(tp, type) and issubclass(tp, msgspec.Struct):
        fields = msgspec.structs.fields(tp)
        found: dict[Any, str | None] = {}
        for field in fields:
            args = [a for a in typing.get_args(field.type) if a is not type(None)]
            optional = len(args) == 1 and len(typing.get_args(field.type)) == 2
            if not optional or field.required:
                return None
            found[args[0]] = field.encode_name
        return found if len(found) > 1 else None
    return None


@dataclass(frozen=True)
class Branch:
    """A branch step: it runs on values of ``variant`` of the group's ``source`` type."""

    group_start: int  # first step of the group
    group_end: int  # one past its last step
    source: Any  # the type the group splits (the output before the group)
    variant: Any
    field: str | None  # the one-of wrapper's field, or None for a union member
    # The wrapper field of each step of the group, in order (computed once: ``choose`` runs
    # per item).
    group_fields: tuple[str | None, ...] = ()


@dataclass(frozen=True)
class StreamShape:
    """Where a pipeline's stream is: its expansion, the per-item steps, the aggregation."""

    expansion: int | None = None
    aggregation: int | None = None  # None with an expansion: the items are the result
    await_index: int | None = None  # the itemized await, if any

    @property
    def streams(self) -> bool:
        return self.expansion is not None


def analyse(steps: tuple[StepSpec, ...], where: str) -> tuple[StreamShape, dict[int, Branch]]:
    """The stream shape and branch steps of ``steps``; :class:`ConfigError` on a mistake."""
    expansion = aggregation = await_index = None
    for spec in steps:
        at = f"{where} step {spec.index} {spec.name!r}"
        if spec.cardinality == EXPANSION:
            if expansion is not None:
                raise ConfigError(f"{at}: a pipeline has at most one ONE_TO_MANY step")
            expansion = spec.index
        elif spec.cardinality == AGGREGATION:
            if aggregation is not None:
                raise ConfigError(f"{at}: a pipeline has at most one MANY_TO_ONE step")
            aggregation = spec.index
        elif spec.kind == "await" and aggregation is None and expansion is not None:
            if await_index is not None:
                raise ConfigError(f"{at}: the items of a stream take at most one await step")
            await_index = spec.index
        per_item = expansion is not None and spec.index > expansion and aggregation is None
        if spec.context_param is not None and per_item:
            raise ConfigError(f"{at}: a per-item step cannot take a StepContext")
        if spec.kind == "await" and spec.timeout_response is not None and not per_item:
            raise ConfigError(f"{at}: timeout_response applies to an itemized await only")
    if aggregation is not None and expansion is None:
        # No expansion: the items are the execution's input, submitted with inputShape MULTI.
        await_index = next(
            (s.index for s in steps if s.kind == "await" and s.index < aggregation), None
        )
    return StreamShape(expansion, aggregation, await_index), _branches(steps, where)


def _branches(steps: tuple[StepSpec, ...], where: str) -> dict[int, Branch]:
    found: dict[int, Branch] = {}
    i = 1
    while i < len(steps):
        source = steps[i - 1].output_type
        options = variants(source)
        if options is None or steps[i].input_type not in options:
            i += 1
            continue
        end = i
        while end < len(steps) and steps[end].input_type in options:
            end += 1
        taken = [steps[k].input_type for k in range(i, end)]
        at = f"{where} step {i} {steps[i].name!r}"
        if len(set(taken)) != len(taken):
            raise ConfigError(f"{at}: two branch steps take the same variant")
        missing = [tp for tp in options if tp not in taken]
        if missing:
            names = ", ".join(getattr(tp, "__name__", repr(tp)) for tp in missing)
            raise ConfigError(f"{at}: the branch group has no step for variant(s) {names}")
        fields = tuple(options[steps[k].input_type] for k in range(i, end))
        for k in range(i, end):
            if steps[k].kind != "internal" or steps[k].cardinality != "ONE_TO_ONE":
                raise ConfigError(f"{where} step {k}: a branch step is an internal ONE_TO_ONE")
            variant = steps[k].input_type
            found[k] = Branch(i, end, source, variant, options[variant], fields)
        i = end
    return found


def choose(branch: Branch, steps: tuple[StepSpec, ...], plain: Any) -> tuple[int, Any]:
    """The branch step of the group that takes ``plain`` (a value of the group's source type,
    as plain JSON), and that step's input (plain JSON)."""
    if branch.field is not None:  # one-of wrapper: the field that is set picks the step
        set_fields = [k for k, v in (plain or {}).items() if v is not None]
        for offset, wrapped in enumerate(branch.group_fields):
            if wrapped in set_fields:
                return branch.group_start + offset, plain[wrapped]
        raise ValueError(
            f"value sets none of the branch fields of step {branch.group_start} "
            f"(set: {', '.join(set_fields) or 'none'})"
        )
    typed = msgspec.convert(plain, branch.source, str_keys=True)
    for k in range(branch.group_start, branch.group_end):
        if isinstance(typed, steps[k].input_type):
            return k, plain
    raise ValueError(f"no branch step of step {branch.group_start} takes {type(typed).__name__}")


def variant_of(plain: Any) -> str | None:
    """The variant name of a one-of wrapper value (its one set field), for item counts."""
    if isinstance(plain, dict):
        set_fields = [k for k, v in plain.items() if v is not None]
        if len(set_fields) == 1:
            return str(set_fields[0])
    return None
