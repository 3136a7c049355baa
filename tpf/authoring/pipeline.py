"""The authoring API: a pipeline is an ordered list of typed steps.

An internal step is a plain (sync or async) function whose first parameter's annotation is the
step input type and whose return annotation is the output type; an await step has no code, it
parks the execution until an outside party answers with a value of its output type. Types are
msgspec Structs (or unions of them, or plain types); the coordinator stores payloads as plain
JSON, so :meth:`Pipeline.decode_input` and :meth:`Pipeline.to_plain` are the only places where
typed values meet stored ones. An internal step may take a second parameter annotated
``StepContext`` to read the execution's input and earlier steps' outputs
(:mod:`tpf.authoring.context`).

Example::

    pipeline = Pipeline("org.example.orders")

    @pipeline.step("Validate")
    def validate(order: Order) -> ValidOrder: ...

    pipeline.await_step("Approve", step_id="Approve", output=Decision, timeout="PT30M")
    pipeline.await_step("Pay", step_id="Pay", output=Paid, timeout="PT5M",
                        transport=Kafka("payments.requests", "payments.results"))
"""

from __future__ import annotations

import decimal
import functools
import inspect
import sys
import types
import typing
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, TypeVar

import anyio
import anyio.to_thread
import msgspec

from tpf.authoring.await_transports import AwaitTransport, parse_transport
from tpf.authoring.context import StepContext
from tpf.authoring.signatures import step_signature, struct_field_names
from tpf.authoring.streams import Branch, StreamShape, analyse
from tpf.core.durations import parse_duration_ms
from tpf.core.errors import ConfigError, ValidationError

if TYPE_CHECKING:
    from tpf.core.records import PipelineContract

F = TypeVar("F", bound=Callable[..., Any])

AWAIT_TRANSPORT = "interaction-api"

# Builtins get the Java names the original's clients already send (spec §7.1), so a payload
# typed ``java.lang.String`` or ``java.util.Map`` matches a step declared with ``str``/``dict``.
_BUILTIN_TYPE_IDS: dict[Any, str] = {
    str: "java.lang.String",
    int: "java.lang.Long",
    float: "java.lang.Double",
    bool: "java.lang.Boolean",
    decimal.Decimal: "java.math.BigDecimal",
    uuid.UUID: "java.util.UUID",
    dict: "java.util.Map",
    list: "java.util.List",
    tuple: "java.util.List",
    set: "java.util.Set",
    frozenset: "java.util.Set",
    typing.Any: "java.lang.Object",
    object: "java.lang.Object",
    None: "null",
    type(None): "null",
}


@dataclass(frozen=True)
class StepSpec:
    """One authored step, as the coordinator and the contract see it."""

    index: int
    name: str
    step_id: str
    kind: Literal["internal", "await"]
    input_type: Any
    output_type: Any
    input_type_id: str
    output_type_id: str
    fn: Callable[[Any], Any] | None  # internal steps: sync or async callable; None for await
    timeout_ms: int | None = None  # await only
    key_fields: tuple[str, ...] = ()  # await only: encoded field names of the await input
    assignee: str | None = None  # await only
    group: str | None = None  # await only
    # await only: the transport's name, "interaction-api" unless one is pinned (the contract's
    # awaitTransport); which channel an unpinned step uses is configuration's choice
    # (tpf.config.await_transport.effective_transport).
    transport: str | None = None
    transport_spec: AwaitTransport | None = None  # await only: the pinned transport, if any
    # await only: a completion may carry fields its output type does not declare (the next
    # step does not see them); by default such a completion is refused, naming the field.
    ignore_unknown_fields: bool = False
    # internal only: the parameter annotated ``StepContext`` (tpf.authoring.context), if any
    context_param: str | None = None
    # Streams (tpf.authoring.streams): ONE_TO_ONE, ONE_TO_MANY (an expansion: ``output_type``
    # is the item type) or MANY_TO_ONE (an aggregation: ``input_type`` is the item type, and
    # ``item_form`` says how the items arrive: iterator, async_iterator or list).
    cardinality: str = "ONE_TO_ONE"
    item_form: str | None = None
    # itemized await only: the response (plain JSON) an item whose interaction timed out takes
    # on (e.g. into the unapproved branch); ``None``: a timed-out item fails the execution.
    timeout_response: Any = None


class Pipeline:
    """An ordered list of steps plus the type ids that name their payloads on the wire."""

    def __init__(self, pipeline_id: str, *, type_ids: Mapping[type, str] | None = None) -> None:
        if not pipeline_id or not pipeline_id.strip():
            raise ConfigError("pipeline_id is required")
        self.pipeline_id = pipeline_id
        self._type_ids: dict[Any, str] = dict(type_ids or {})
        self._steps: list[StepSpec] = []
        self._contract: PipelineContract | None = None
        self._shape: tuple[StreamShape, dict[int, Branch]] | None = None
        # The module that built this pipeline: its source (and what it imports) is the code a
        # release of the pipeline carries (tpf/release_code.py).
        self.module_name: str | None = _calling_module()

    @property
    def steps(self) -> tuple[StepSpec, ...]:
        return tuple(self._steps)

    # ------------------------------------------------------------------ authoring

    def step(
        self, name: str, *, step_id: str | None = None, cardinality: str = "ONE_TO_ONE"
    ) -> Callable[[F], F]:
        """Register the decorated function as the next internal step (returned unchanged).

        ``cardinality="ONE_TO_MANY"`` makes it an expansion (a generator of items) and
        ``"MANY_TO_ONE"`` an aggregation of the items' outputs (:mod:`tpf.authoring.streams`).
        """

        def register(fn: F) -> F:
            input_type, output_type, context_param, form = step_signature(name, fn, cardinality)
            self._add(
                StepSpec(
                    index=len(self._steps),
                    name=name,
                    step_id=step_id or name,
                    kind="internal",
                    input_type=input_type,
                    output_type=output_type,
                    input_type_id=self.type_id(input_type),
                    output_type_id=self.type_id(output_type),
                    fn=fn,
                    context_param=context_param,
                    cardinality=cardinality,
                    item_form=form,
                )
            )
            return fn

        return register

    def await_step(
        self,
        name: str,
        *,
        step_id: str,
        output: Any,
        timeout: str | int,
        key_fields: Sequence[str] = (),
        assignee: str | None = None,
        group: str | None = None,
        input: Any = None,
        ignore_unknown_fields: bool = False,
        transport: AwaitTransport | Mapping[str, Any] | str | None = None,
        timeout_response: Any = None,
    ) -> None:
        """Register the next step as an await: the execution parks until it is completed.

        A completion's response must decode into ``output`` strictly: missing required fields,
        wrong types and fields ``output`` does not declare are refused (400 naming the field).
        ``ignore_unknown_fields=True`` accepts undeclared fields and drops them instead, for
        answers from a system that sends more than the pipeline reads.

        ``transport`` pins how the request leaves and the completion returns
        (:mod:`tpf.authoring.await_transports`: ``InteractionApi()``, ``Sqs(...)``,
        ``Kafka(...)`` or the spec's mapping form); unset, the deployment's configured
        transport applies. REST completion works whichever it is.
        """
        if input is None:
            if not self._steps:
                raise ConfigError(f"await step {name!r} is the first step: pass input=<type>")
            input = self._steps[-1].output_type
        if isinstance(key_fields, str):  # a lone string would silently become its characters
            raise ConfigError(f"await step {name!r}: key_fields must be a sequence of names")
        pinned: AwaitTransport | None = None
        if transport is not None:
            try:
                pinned = parse_transport(transport)
            except ValidationError as exc:
                raise ValidationError(
                    f"await step {name!r}: {exc.message}", details=exc.details
                ) from exc
        self._add(
            StepSpec(
                index=len(self._steps),
                name=name,
                step_id=step_id,
                kind="await",
                input_type=input,
                output_type=output,
                input_type_id=self.type_id(input),
                output_type_id=self.type_id(output),
                fn=None,
                timeout_ms=parse_duration_ms(timeout, name=f"await step {name!r}: timeout"),
                key_fields=tuple(key_fields),
                assignee=assignee,
                group=group,
                transport=pinned.type if pinned is not None else AWAIT_TRANSPORT,
                transport_spec=pinned,
                ignore_unknown_fields=ignore_unknown_fields,
                timeout_response=None
                if timeout_response is None
                else msgspec.to_builtins(timeout_response),
            )
        )

    def _add(self, spec: StepSpec) -> None:
        self._steps.append(spec)
        self._contract = None  # the cached contract no longer describes the pipeline
        self._shape = None

    # ------------------------------------------------------------------ types & payloads

    def type_id(self, tp: Any) -> str:
        """The wire name of ``tp``: the ``type_ids`` mapping, else ``module.QualName``."""
        try:
            if tp in self._type_ids:
                return self._type_ids[tp]
            if tp in _BUILTIN_TYPE_IDS:
                return _BUILTIN_TYPE_IDS[tp]
        except TypeError:  # unhashable annotation objects fall through to the generic naming
            pass
        origin = typing.get_origin(tp)
        args = typing.get_args(tp)
        if origin in (typing.Union, types.UnionType):
            return " | ".join(self.type_id(arg) for arg in args)
        if origin is typing.Literal:
            return "Literal[" + ", ".join(repr(arg) for arg in args) + "]"
        if origin is typing.Annotated:
            return self.type_id(args[0])
        if origin is not None:
            inner = ", ".join(self.type_id(arg) for arg in args if arg is not Ellipsis)
            return f"{self.type_id(origin)}<{inner}>" if inner else self.type_id(origin)
        if isinstance(tp, type):
            return f"{tp.__module__}.{tp.__qualname__}"
        return repr(tp)

    def decode_input(self, index: int, value: Any) -> Any:
        """Convert a plain JSON value into step ``index``'s declared input type."""
        spec = self._spec(index)
        try:
            return msgspec.convert(value, spec.input_type, str_keys=True)
        except msgspec.ValidationError as exc:
            raise ValidationError(
                f"step {index} {spec.name!r}: input does not match {spec.input_type_id}: {exc}"
            ) from exc

    def decode_output(self, index: int, value: Any) -> Any:
        """Convert a plain JSON value into step ``index``'s declared output type."""
        spec = self._spec(index)
        try:
            return msgspec.convert(value, spec.output_type, str_keys=True)
        except msgspec.ValidationError as exc:
            raise ValidationError(
                f"step {index} {spec.name!r}: output does not match {spec.output_type_id}: {exc}"
            ) from exc

    def to_plain(self, value: Any) -> Any:
        """A typed value as a plain JSON value (dicts, lists, strings, numbers)."""
        return msgspec.to_builtins(value)

    async def run_step(
        self,
        index: int,
        value: Any,
        *,
        limiter: anyio.CapacityLimiter | None = None,
        context: StepContext | None = None,
    ) -> Any:
        """Run internal step ``index`` on an already-decoded input.

        ``async def`` steps run on the event loop; plain ``def`` steps run in a worker thread
        (bounded by ``limiter``, else anyio's default limit) so that blocking code cannot
        freeze the loop. Cancelled while a sync step runs, this stops waiting at once and
        drops the step's result; the step itself runs on to its end (see
        :mod:`tpf.transports.workers.step_threads`). A step that declares a context parameter
        gets ``context`` in it.
        """
        spec = self._spec(index)
        fn = spec.fn
        if fn is None:
            raise TypeError(f"step {index} {spec.name!r} is an await step and has no code")
        if spec.context_param is not None:
            if context is None:
                raise TypeError(f"step {index} {spec.name!r} takes a context and got none")
            fn = functools.partial(fn, **{spec.context_param: context})
        if inspect.iscoroutinefunction(fn):
            return await fn(value)
        result = await anyio.to_thread.run_sync(fn, value, limiter=limiter, abandon_on_cancel=True)
        if inspect.isawaitable(result):  # a plain def returning an awaitable (a wrapper)
            result = await result
        return result

    def _spec(self, index: int) -> StepSpec:
        if not 0 <= index < len(self._steps):
            raise IndexError(f"pipeline {self.pipeline_id} has no step {index}")
        return self._steps[index]

    # ------------------------------------------------------------------ contract

    def contract(self) -> PipelineContract:
        """The pipeline's contract (validated and cached until the next step is added)."""
        if self._contract is None:
            from tpf.authoring.contract import build_contract  # contract.py imports this module

            self._contract = build_contract(self)
        return self._contract

    def stream(self) -> tuple[StreamShape, dict[int, Branch]]:
        """Where the pipeline's stream is and its branch steps (validated, cached)."""
        if self._shape is None:
            self._shape = analyse(self.steps, f"pipeline {self.pipeline_id}")
        return self._shape

    def validate(self) -> None:
        """Raise :class:`ConfigError` naming the first authoring mistake found."""
        if not self._steps:
            raise ConfigError(f"pipeline {self.pipeline_id} has no steps")
        self.stream()
        seen: set[str] = set()
        for spec in self._steps:
            where = f"pipeline {self.pipeline_id} step {spec.index} {spec.name!r}"
            if not spec.name.strip() or not spec.step_id.strip():
                raise ConfigError(f"{where}: name and step_id must be non-blank")
            if spec.step_id in seen:
                raise ConfigError(f"{where}: duplicate step id {spec.step_id!r}")
            seen.add(spec.step_id)
            if spec.kind != "await":
                continue
            if spec.timeout_ms is None or spec.timeout_ms <= 0:
                raise ConfigError(f"{where}: an await step needs a timeout > 0")
            struct_fields = struct_field_names(spec.input_type)
            if struct_fields is None:
                continue
            for key in spec.key_fields:
                if key not in struct_fields:
                    raise ConfigError(
                        f"{where}: key field {key!r} is not a field of {spec.input_type_id} "
                        f"(fields: {', '.join(sorted(struct_fields))})"
                    )


def _calling_module() -> str | None:
    """``__name__`` of the first frame outside this module (a subclass's ``__init__`` counts)."""
    frame: types.FrameType | None = sys._getframe(1)
    while frame is not None and frame.f_globals.get("__name__") == __name__:
        frame = frame.f_back
    name = frame.f_globals.get("__name__") if frame is not None else None
    return name if isinstance(name, str) else None
