"""Step signatures: what a step function's annotations say about its input and output.

Kept apart from :mod:`tpf.authoring.pipeline` (which registers steps) so each stays small. A
stream step's annotation wraps its item type (:mod:`tpf.authoring.streams`): an expansion
returns ``Iterator[T]`` (or an async one, or ``list[T]``) and an aggregation takes one.
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable
from typing import Any

import msgspec

from tpf.authoring.context import is_context_annotation
from tpf.authoring.streams import AGGREGATION, CARDINALITIES, EXPANSION, item_type
from tpf.core.errors import ConfigError


def step_signature(
    name: str, fn: Callable[..., Any], cardinality: str
) -> tuple[Any, Any, str | None, str | None]:
    """``(input type, output type, context parameter, item form)`` of a step function.

    For an expansion the output type is the item type; for an aggregation the input type is
    the item type and ``item form`` says how the items arrive (``iterator``,
    ``async_iterator`` or ``list``).
    """
    if cardinality not in CARDINALITIES:
        raise ConfigError(
            f"step {name!r}: cardinality must be one of {', '.join(CARDINALITIES)} "
            f"(got {cardinality!r})"
        )
    input_type, output_type, context = _annotated_types(name, fn)
    form = None
    if cardinality == EXPANSION:
        output_type, _ = item_type(output_type, f"step {name!r}", "a ONE_TO_MANY step's return")
    elif cardinality == AGGREGATION:
        input_type, form = item_type(input_type, f"step {name!r}", "a MANY_TO_ONE step's input")
        is_async = inspect.iscoroutinefunction(inspect.unwrap(fn))
        # An iterator that reads pages from the store must match how the step runs: a sync
        # one blocks its worker thread on each page, an async one awaits on the loop.
        if form == "iterator" and is_async:
            raise ConfigError(
                f"step {name!r}: an async def aggregation takes AsyncIterator[T] (or list[T])"
            )
        if form == "async_iterator" and not is_async:
            raise ConfigError(
                f"step {name!r}: an AsyncIterator[T] input needs an async def aggregation"
            )
    return input_type, output_type, context, form


def _annotated_types(name: str, fn: Callable[..., Any]) -> tuple[Any, Any, str | None]:
    """The (input, output) types of a step function, from its annotations, and the name of
    its ``StepContext`` parameter (``None`` when it takes none)."""
    try:
        hints = typing.get_type_hints(fn)
    except Exception as exc:  # NameError etc.: unresolvable forward references
        raise ConfigError(
            f"step {name!r}: cannot resolve the annotations of {fn!r}: {exc}"
        ) from exc
    params = list(inspect.signature(fn).parameters.values())
    if not params:
        raise ConfigError(f"step {name!r}: the function must take the step input as a parameter")
    first = params[0].name
    if first not in hints:
        raise ConfigError(f"step {name!r}: annotate parameter {first!r} with the input type")
    if "return" not in hints:
        raise ConfigError(f"step {name!r}: annotate the return type with the output type")
    contexts = [p.name for p in params[1:] if is_context_annotation(hints.get(p.name))]
    if len(contexts) > 1:
        raise ConfigError(f"step {name!r}: only one parameter may be a StepContext")
    if is_context_annotation(hints[first]):
        raise ConfigError(f"step {name!r}: the first parameter is the input, not the context")
    return hints[first], hints["return"], contexts[0] if contexts else None


def struct_field_names(tp: Any) -> set[str] | None:
    """Encoded field names of a Struct type, or ``None`` when ``tp`` is not a Struct."""
    if isinstance(tp, type) and issubclass(tp, msgspec.Struct):
        return {field.encode_name for field in msgspec.structs.fields(tp)}
    return None
