"""Release and worker records: contracts, descriptors, registered releases, worker lifecycle.

Split from :mod:`tpf.core.records` (which re-exports them) by what they describe: the code a
tenant runs and the workers that run it, rather than the executions.
"""

from __future__ import annotations

import enum
from typing import Any

import msgspec

from tpf.core.record_base import Record


class WorkerState(enum.StrEnum):
    HEALTHY = "HEALTHY"
    STALE = "STALE"
    DRAINING = "DRAINING"
    UNAVAILABLE = "UNAVAILABLE"


class ReleaseStatus(enum.StrEnum):
    REGISTERED = "REGISTERED"
    ACTIVE = "ACTIVE"


# --------------------------------------------------------------------------- contracts & releases


class ContractStep(Record, frozen=True, kw_only=True):
    index: int
    authored_name: str
    step_id: str
    kind: str  # "internal" | "await"
    cardinality: str = "ONE_TO_ONE"
    input_type_id: str | None = None
    output_type_id: str | None = None
    runtime_class: str | None = None
    client_class: str | None = None
    await_transport: str | None = None
    # Await steps' hashed extras (tpf.authoring.contract): written only when they apply, so
    # ``None`` here means "absent from the document", never a hashed null.
    await_timeout_ms: int | None = None
    idempotency_key_fields: tuple[str, ...] | None = None
    ignore_unknown_fields: bool | None = None
    await_transport_spec: dict[str, Any] | None = None
    # Ours (issue 13), internal steps: ``True`` when the step takes ``ctx: StepContext`` (written
    # only then, so contracts of pipelines without contexts keep their hash). A coordinator
    # that does not host the code reads it to know when a transition's command needs a context.
    takes_context: bool | None = None
    # Ours (issue 13), itemized awaits: the response an item whose interaction timed out takes
    # on (``None``: such an item fails the execution). Written only when set.
    timeout_response: Any = None


class PipelineContract(Record, frozen=True, kw_only=True):
    """``pipeline-contract.json`` (spec §5.1)."""

    schema_version: int = 1
    pipeline_id: str
    contract_version: str
    contract_hash: str
    platform: str = "COMPUTE"
    transport: str = "LOCAL"
    module: str | None = None
    plugin_host: bool = False
    runtime_layout: str | None = "MONOLITH"
    steps: tuple[ContractStep, ...] = ()
    capabilities: dict[str, Any] = msgspec.field(default_factory=dict)


class ArtifactDescriptor(Record, frozen=True, kw_only=True):
    artifact_id: str
    kind: str
    uri: str
    digest: str
    step_ids: tuple[str, ...] = ()
    capabilities: tuple[str, ...] = ()


class ReleaseDescriptor(Record, frozen=True, kw_only=True):
    """``pipeline-release.json`` (spec §5.2)."""

    schema_version: int
    pipeline_id: str
    contract_version: str
    release_version: str
    artifacts: tuple[ArtifactDescriptor, ...]


class ReleaseRecord(Record, frozen=True, kw_only=True):
    """A registered release (spec §2.3). ``descriptor`` keeps the raw JSON, extras included.

    ``status`` and ``activated_at_epoch_ms`` are derived from the activation events when read;
    the stored release itself is immutable.
    """

    tenant_id: str
    pipeline_id: str
    contract_version: str
    release_version: str
    status: ReleaseStatus = ReleaseStatus.REGISTERED
    descriptor: dict[str, Any] = msgspec.field(default_factory=dict)
    primary_artifact_id: str = ""
    primary_artifact_digest: str = ""
    primary_artifact_uri: str = ""
    primary_artifact_size_bytes: int = 0
    primary_artifact_checksum: str = ""
    contract: dict[str, Any] | None = None
    created_at_epoch_ms: int = 0
    updated_at_epoch_ms: int = 0
    activated_at_epoch_ms: int = 0


# --------------------------------------------------------------------------- workers


class WorkerEventType(enum.StrEnum):
    REGISTER = "REGISTER"
    HEARTBEAT = "HEARTBEAT"
    DRAIN = "DRAIN"


class WorkerEvent(Record, frozen=True, kw_only=True):
    """One append-only worker lifecycle event; a worker's record is the fold of its events."""

    tenant_id: str
    pipeline_id: str
    worker_id: str
    event_type: WorkerEventType
    at_epoch_ms: int
    contract_version: str = ""
    release_version: str = ""
    protocol: str = ""
    endpoint: str = ""
    artifact_id: str = ""
    artifact_digest: str = ""


class WorkerRecord(Record, frozen=True, kw_only=True):
    """A worker's lifecycle view (spec §2.4). ``state`` is derived at read time."""

    tenant_id: str
    pipeline_id: str
    contract_version: str
    release_version: str
    worker_id: str
    protocol: str
    endpoint: str = ""
    artifact_id: str = ""
    artifact_digest: str = ""
    state: WorkerState = WorkerState.HEALTHY
    registered_at_epoch_ms: int = 0
    last_heartbeat_at_epoch_ms: int = 0
    draining_since_epoch_ms: int = 0
