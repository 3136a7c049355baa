"""Contract validators: how a submit's input and an await's response are checked for one
pinned identity, whichever worker runs its code.

- :class:`AuthoredTypesValidator` checks against the authored Python types of code this process
  has (the local worker supplies it): full strict validation, as before.
- :class:`ContractTypesValidator` is what a remote worker supplies from the release's
  :class:`~tpf.core.records.PipelineContract`. A contract carries type *ids* only, not schemas, so
  it can record the declared input type and recognise the identity's await steps, but it cannot
  check a value's shape: values pass unchecked (the worker decoding the step's input still
  rejects a malformed one, as a non-retryable failure).
- :data:`UNCHECKED` is for an identity nothing is known about.
"""

from __future__ import annotations

from typing import Any

import msgspec

from tpf.authoring.pipeline import Pipeline
from tpf.core import strict
from tpf.core.errors import ValidationError
from tpf.core.records import AwaitInteraction, PipelineContract

# The type ids a client states when it does not name the input's real type: the first step's
# declared type is recorded instead.
GENERIC_TYPE_IDS = frozenset({None, "java.util.Map", "java.util.List", "java.util.Set"})
RESPONSE_ROOT = "responsePayload"


class AuthoredTypesValidator:
    """Strict checks from the authored types of ``pipeline`` (code hosted in this process)."""

    def __init__(self, pipeline: Pipeline) -> None:
        self._pipeline = pipeline

    def decode_input(self, value: Any) -> None:
        if not self._pipeline.steps:
            return
        try:
            self._pipeline.decode_input(0, value)
        except ValidationError as exc:
            raise ValidationError(f"inputPayload: {exc.message}") from None

    def input_type_id(self, submitted: str | None) -> str | None:
        steps = self._pipeline.steps
        if steps and submitted in GENERIC_TYPE_IDS:
            return steps[0].input_type_id
        return submitted

    def covers(self, interaction: AwaitInteraction) -> bool:
        steps = self._pipeline.steps
        if interaction.step_index >= len(steps):
            return False
        step = steps[interaction.step_index]
        return (
            step.step_id == interaction.step_id and step.output_type_id == interaction.output_type
        )

    def validate_response(self, interaction: AwaitInteraction, response: Any) -> Any:
        step = self._pipeline.steps[interaction.step_index]
        strict.validate(
            response,
            step.output_type,
            root=RESPONSE_ROOT,
            allow_undeclared=step.ignore_unknown_fields,
        )
        return response

    def response_schema(self, interaction: AwaitInteraction) -> dict[str, Any] | None:
        """The JSON Schema of the await's output type (the console builds its form from it);
        ``None`` for an untyped (``Any``) output."""
        step = self._pipeline.steps[interaction.step_index]
        if step.output_type is Any:
            return None
        schema: dict[str, Any] = msgspec.json.schema(step.output_type)
        return schema


class ContractTypesValidator:
    """What the release's contract can check: type ids and await step identity, not shapes."""

    def __init__(self, contract: PipelineContract) -> None:
        self._steps = contract.steps

    def decode_input(self, value: Any) -> None:
        return None  # a contract has no schema to check a value against

    def input_type_id(self, submitted: str | None) -> str | None:
        if self._steps and submitted in GENERIC_TYPE_IDS:
            return self._steps[0].input_type_id
        return submitted

    def covers(self, interaction: AwaitInteraction) -> bool:
        if interaction.step_index >= len(self._steps):
            return False
        step = self._steps[interaction.step_index]
        return (
            step.step_id == interaction.step_id and step.output_type_id == interaction.output_type
        )

    def validate_response(self, interaction: AwaitInteraction, response: Any) -> Any:
        return response


class _Unchecked:
    def decode_input(self, value: Any) -> None:
        return None

    def input_type_id(self, submitted: str | None) -> str | None:
        return submitted

    def covers(self, interaction: AwaitInteraction) -> bool:
        return False

    def validate_response(self, interaction: AwaitInteraction, response: Any) -> Any:
        return response


UNCHECKED = _Unchecked()
