"""``pipeline-contract.json``: what a pipeline build promises (spec §5.1).

The contract pins the pipeline's shape (step order, ids, kinds, payload type ids). Its
``contractHash`` is the hex sha256 of the canonical JSON (sorted keys, no whitespace, UTF-8) of
the contract without ``contractHash``/``contractVersion``, so any change to the shape yields a
new ``contractVersion = "sha256:<hash>"`` and executions pinned to the old one are never run by
code of a different shape.

Each step's ``cardinality`` is its authored one (``ONE_TO_MANY`` expansions and ``MANY_TO_ONE``
aggregations of :mod:`tpf.authoring.streams`; ``ONE_TO_ONE`` otherwise, as always). An
itemized await's ``timeoutResponse`` is hashed when set.

A step that takes ``ctx: StepContext`` writes ``takesContext: true`` (absent otherwise): the
coordinator then sends its transitions a context and stores the outputs it reads.

Await steps also hash their timeout and idempotency key fields (``awaitTimeoutMs``,
``idempotencyKeyFields``) and, when set, ``ignoreUnknownFields``: they change how an execution
parks and which answers complete it, so they belong to its identity.
They are written only where they apply (absent, not null, elsewhere: older contracts keep
their hash), and a parsed :class:`~tpf.core.records.ContractStep` carries them (``None`` when
absent), so a coordinator that does not host the code still knows, from the registered contract,
how each await parks and where its requests go.

``awaitTransport`` is the await's transport name: ``"interaction-api"`` for a step that pins
none (as before transports could be pinned, so those contracts keep their hash) and the pinned
one's otherwise. A pinned transport also hashes its whole spec (``awaitTransportSpec``, the
spec's mapping form): where requests go is part of how the execution parks, and a step pinned
to ``InteractionApi()`` (never switched by configuration) differs from an unpinned one.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any

import msgspec
import orjson

from tpf.authoring.await_transports import transport_document
from tpf.core.codec import canonical_json
from tpf.core.errors import ValidationError
from tpf.core.records import ContractStep, PipelineContract

if TYPE_CHECKING:
    from tpf.authoring.pipeline import Pipeline

SUPPORTED_SCHEMA_VERSIONS = (1, 2, 3)
HASH_EXCLUDED_FIELDS = ("contractHash", "contractVersion")
CAPABILITIES: dict[str, Any] = {
    "localTransitionExecution": True,
    "transitionWorkerProtocols": ["local"],
}


def build_contract(pipeline: Pipeline) -> PipelineContract:
    """Validate ``pipeline`` and derive its contract, hash included."""
    document = contract_document(pipeline)
    contract_hash = hash_document(document)
    return msgspec.convert(
        {**document, "contractHash": contract_hash, "contractVersion": f"sha256:{contract_hash}"},
        PipelineContract,
    )


# ContractStep fields written only when they apply (see the module docstring).
OPTIONAL_STEP_FIELDS = (
    "awaitTimeoutMs",
    "idempotencyKeyFields",
    "ignoreUnknownFields",
    "awaitTransportSpec",
    "takesContext",
    "timeoutResponse",
)


def _step_document(step: ContractStep) -> dict[str, Any]:
    document: dict[str, Any] = msgspec.to_builtins(step)
    for name in OPTIONAL_STEP_FIELDS:
        if document.get(name) is None:
            document.pop(name, None)
    return document


def contract_document(pipeline: Pipeline) -> dict[str, Any]:
    """The contract as plain JSON without the hash fields (what the hash is computed over)."""
    pipeline.validate()
    steps: list[dict[str, Any]] = []
    for spec in pipeline.steps:
        step = _step_document(
            ContractStep(
                index=spec.index,
                authored_name=spec.name,
                step_id=spec.step_id,
                kind=spec.kind,
                cardinality=spec.cardinality,
                input_type_id=spec.input_type_id,
                output_type_id=spec.output_type_id,
                await_transport=spec.transport if spec.kind == "await" else None,
            )
        )
        if spec.context_param is not None:
            step["takesContext"] = True  # only when set: other contracts keep their hash
        if spec.kind == "await":
            step["awaitTimeoutMs"] = spec.timeout_ms
            step["idempotencyKeyFields"] = list(spec.key_fields)
            if spec.ignore_unknown_fields:
                # Only when set, so the contracts of strict awaits (the default) keep their hash.
                step["ignoreUnknownFields"] = True
            if spec.transport_spec is not None:
                # Only when pinned, so the contracts of unpinned awaits keep their hash.
                step["awaitTransportSpec"] = transport_document(spec.transport_spec)
            if spec.timeout_response is not None:
                step["timeoutResponse"] = spec.timeout_response
        steps.append(step)
    # The two hash fields get placeholders only to satisfy the Struct; they are dropped below.
    skeleton = PipelineContract(
        pipeline_id=pipeline.pipeline_id,
        contract_version="",
        contract_hash="",
        transport="LOCAL",
        capabilities=dict(CAPABILITIES),
    )
    document: dict[str, Any] = msgspec.to_builtins(skeleton)
    for name in HASH_EXCLUDED_FIELDS:
        document.pop(name)
    document["steps"] = steps
    return document


def hash_document(document: dict[str, Any]) -> str:
    """Hex sha256 of ``document``'s canonical JSON, ignoring any hash fields it carries."""
    stripped = {k: v for k, v in document.items() if k not in HASH_EXCLUDED_FIELDS}
    return hashlib.sha256(canonical_json(stripped)).hexdigest()


def contract_to_json(contract: PipelineContract, pipeline: Pipeline | None = None) -> bytes:
    """Pretty, key-sorted JSON of ``contract``.

    With ``pipeline`` (which must be the one the contract was built from) the await steps carry
    their hashed extras, so the file's own content re-hashes to its ``contractHash``.
    """
    if pipeline is not None:
        document = contract_document(pipeline)
        if hash_document(document) != contract.contract_hash:
            raise ValueError("contract_to_json: the contract was not built from this pipeline")
        document["contractHash"] = contract.contract_hash
        document["contractVersion"] = contract.contract_version
        data: Any = document
    else:
        data = msgspec.to_builtins(contract)
        data["steps"] = [_step_document(step) for step in contract.steps]
    return orjson.dumps(data, option=orjson.OPT_SORT_KEYS | orjson.OPT_INDENT_2)


def parse_contract(data: bytes) -> PipelineContract:
    """Parse a ``pipeline-contract.json`` of schemaVersion 1..3; unknown fields are ignored."""
    try:
        contract = msgspec.json.decode(data, type=PipelineContract)
    except msgspec.DecodeError as exc:  # ValidationError is a DecodeError subclass
        raise ValidationError(f"invalid pipeline contract: {exc}") from exc
    if contract.schema_version not in SUPPORTED_SCHEMA_VERSIONS:
        raise ValidationError(
            f"unsupported pipeline contract schemaVersion {contract.schema_version} "
            f"(supported: 1..3)"
        )
    if not contract.pipeline_id.strip() or not contract.contract_version.strip():
        raise ValidationError(
            "invalid pipeline contract: pipelineId and contractVersion are required"
        )
    return contract
