"""``StepContext``: what a step that declares ``ctx: StepContext`` may read besides its input.

A step's input is the previous step's output (after an await, the completion's response), so
without a context a step after an await cannot see, say, the order it validated before. A step
declares a second parameter annotated ``StepContext``::

    @pipeline.step("Finalize")
    def finalize(decision: Decision, ctx: StepContext) -> Receipt:
        order = ctx.output("Validate")          # decoded to Validate's output type
        assert ctx.awaited is not None           # set right after an await
        ...

It gives the execution's input (:attr:`StepContext.input`, decoded to the pipeline's input
type), earlier steps' outputs by step name (:meth:`StepContext.output`) and, in the transition
right after an await, that await's request, completing actor and completion time
(:attr:`StepContext.awaited`). Values arrive as plain JSON (stored with the execution, or
produced earlier in the same transition) and are decoded on first read, so a step pays only
for what it reads.

Which outputs are stored is derived from the pipeline (:func:`stored_for_readers`): the output
of step ``i`` is kept only when a later step that takes a context runs in another transition
(an await lies between them); outputs read within one transition never leave the worker.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tpf.core.errors import TerminalError

if TYPE_CHECKING:
    from tpf.authoring.pipeline import Pipeline, StepSpec
    from tpf.core.records import StepContextData


class UnknownStepOutput(KeyError):
    """``ctx.output(name)`` for a step that is not an earlier step of this execution."""

    def __init__(self, name: str, known: Sequence[str]) -> None:
        self.step_name = name
        self.known = tuple(known)
        shown = ", ".join(repr(k) for k in known) or "none"
        super().__init__(f"no output of step {name!r} in this step's context (known: {shown})")

    def __str__(self) -> str:  # KeyError's own str() quotes the whole message
        return str(self.args[0])


@dataclass(frozen=True)
class AwaitedInteraction:
    """The await the current transition resumed after."""

    step_name: str
    interaction_id: str
    request: Any  # the await's request payload (plain JSON, as it was sent)
    actor: str | None  # who completed it, when the completion said
    completed_at_epoch_ms: int

    @property
    def completed_at(self) -> datetime.datetime:
        return datetime.datetime.fromtimestamp(self.completed_at_epoch_ms / 1000, datetime.UTC)


class StepContext:
    """A step's read-only view of its execution (see the module docstring)."""

    def __init__(
        self,
        pipeline: Pipeline,
        step_index: int,
        input_payload: Any,
        outputs: Mapping[str, Any],
        awaited: AwaitedInteraction | None = None,
    ) -> None:
        self._pipeline = pipeline
        self._step_index = step_index
        self._input = input_payload
        self._outputs = dict(outputs)
        self._decoded: dict[str, Any] = {}
        self.awaited = awaited

    @property
    def input(self) -> Any:
        """The execution's submitted input, decoded to the first step's input type."""
        return self._pipeline.decode_input(0, self._input)

    @property
    def step_names(self) -> tuple[str, ...]:
        """The earlier steps whose outputs this context holds, in pipeline order."""
        order = {spec.name: spec.index for spec in self._pipeline.steps}
        return tuple(sorted(self._outputs, key=lambda name: order.get(name, -1)))

    def output(self, step_name: str) -> Any:
        """Step ``step_name``'s output, decoded to its output type.

        Raises :class:`UnknownStepOutput` (a ``KeyError``) naming the step and the known ones
        when it is not an earlier step of this execution.
        """
        if step_name in self._decoded:
            return self._decoded[step_name]
        index = _index_of(self._pipeline, step_name)
        if index is None or index >= self._step_index or step_name not in self._outputs:
            raise UnknownStepOutput(step_name, self.step_names)
        value = self._pipeline.decode_output(index, self._outputs[step_name])
        self._decoded[step_name] = value
        return value


def is_context_annotation(annotation: Any) -> bool:
    return annotation is StepContext


def readers(steps: Sequence[StepSpec]) -> tuple[int, ...]:
    """Indexes of the steps that take a context."""
    return tuple(spec.index for spec in steps if spec.context_param is not None)


def stored_for_readers(steps: Sequence[StepSpec], index: int) -> bool:
    """Whether step ``index``'s output must be stored with the execution: some later step
    takes a context and an await lies between them (so it runs in another transition)."""
    await_seen = False
    for spec in steps[index + 1 :]:
        if await_seen and spec.context_param is not None:
            return True
        await_seen = await_seen or spec.kind == "await"
    return False


def _index_of(pipeline: Pipeline, name: str) -> int | None:
    for spec in pipeline.steps:
        if spec.name == name:
            return spec.index
    return None


class ContextTracker:
    """One transition's outputs as a worker runs its steps: it builds each reader's
    :class:`StepContext` and collects the outputs to store for later transitions.

    ``data`` is the command's context (``None`` when the coordinator sent none: then only a
    transition from step 0 can give a context, whose input is the transition's payload).
    """

    def __init__(
        self, pipeline: Pipeline, start: int, payload: Any, data: StepContextData | None
    ) -> None:
        self._pipeline = pipeline
        self._steps = pipeline.steps
        self.enabled = any(spec.context_param is not None for spec in self._steps[start:])
        self._data = data
        self._missing = data is None and start > 0
        self._input = data.input_payload if data is not None else (payload if start == 0 else None)
        self._outputs: dict[str, Any] = dict(data.outputs) if data is not None else {}
        self.stored: dict[str, Any] = {}
        self._awaited: AwaitedInteraction | None = None
        resumed = data.resumed_await if data is not None else None
        if resumed is not None and 0 <= resumed.step_index < len(self._steps):
            self._awaited = AwaitedInteraction(
                step_name=self._steps[resumed.step_index].name,
                interaction_id=resumed.interaction_id,
                request=resumed.request_payload,
                actor=resumed.actor,
                completed_at_epoch_ms=resumed.completed_at_epoch_ms,
            )
        if start > 0 and self._steps[start - 1].kind == "await":
            self.produced(start - 1, payload)  # the await's response is its step's output

    def produced(self, index: int, plain: Any) -> None:
        """Step ``index`` produced ``plain`` (its output as plain JSON)."""
        name = self._steps[index].name
        self._outputs[name] = plain
        if stored_for_readers(self._steps, index):
            self.stored[name] = plain

    def context_for(self, index: int) -> StepContext:
        spec = self._steps[index]
        if self._missing:
            raise TerminalError(
                f"step {index} {spec.name!r} takes a StepContext but the transition command "
                "carries none (the coordinator does not know the step takes one: register "
                "the release's contract, built by this version, with takesContext)"
            )
        # Only the await this transition resumed after is "awaited"; later steps of the same
        # transition (no await between) see it too.
        return StepContext(self._pipeline, index, self._input, self._outputs, self._awaited)

    def result_outputs(self) -> dict[str, Any] | None:
        """What the result carries for the coordinator to store; ``None`` when it sent no
        context (a coordinator that does not know the field never gets it)."""
        if self._data is None or not self.stored:
            return None
        return self.stored
