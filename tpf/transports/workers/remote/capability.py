"""What a worker says it hosts (``PipelineWorkerCapability``, spec §7.3), and whether that can
run a release (the match rules of spec §6.3 item 2).

A REST or gRPC worker answers its capabilities endpoint with this JSON; an SQS worker has none,
so the coordinator builds the same record from ``worker.sqs.pipeline-id/...``. Admission checks
it against the active release through :func:`capability_mismatch` (a pure function: the
client caches the capability, the rule needs no I/O).
"""

from __future__ import annotations

import msgspec

from tpf.core.record_base import Record
from tpf.transports.workers.remote.contracts import (
    ENVELOPE_ENCODING,
    PROTOCOL_VERSION,
    MalformedRequest,
)

__all__ = [
    "WORKER_PROTOCOLS",
    "PipelineWorkerCapability",
    "capability_mismatch",
    "decode_capability",
    "encode_capability",
]

Identity = tuple[str, str, str]
# The protocols a worker of this build can be reached by (advertised, as the original does).
WORKER_PROTOCOLS = ("local", "rest", "grpc", "sqs")


class PipelineWorkerCapability(Record, frozen=True, kw_only=True):
    protocol_version: str = PROTOCOL_VERSION
    provider_name: str
    pipeline_id: str
    contract_version: str
    release_version: str
    artifact_id: str | None = None
    artifact_digest: str | None = None
    payload_encodings: tuple[str, ...] = (ENVELOPE_ENCODING,)
    worker_protocols: tuple[str, ...] = WORKER_PROTOCOLS

    @property
    def identity(self) -> Identity:
        return (self.pipeline_id, self.contract_version, self.release_version)


_encode = msgspec.json.Encoder().encode
_decoder = msgspec.json.Decoder(PipelineWorkerCapability)


def encode_capability(capability: PipelineWorkerCapability) -> bytes:
    return _encode(capability)


def decode_capability(data: bytes) -> PipelineWorkerCapability:
    """The capability in ``data``; :class:`MalformedRequest` if it is not one."""
    try:
        return _decoder.decode(data)
    except (msgspec.DecodeError, RecursionError) as exc:
        raise MalformedRequest(f"malformed worker capability: {exc}") from None


def capability_mismatch(
    capability: PipelineWorkerCapability,
    identity: Identity,
    *,
    artifact_id: str | None = None,
    artifact_digest: str | None = None,
) -> str | None:
    """Why a worker with ``capability`` cannot run the release ``identity`` (with its primary
    artifact's id and digest); ``None`` if it can.

    The protocol version must be ours; pipeline id, contract and release version must be the
    release's; artifact id and digest must agree where both sides state them.
    """
    if capability.protocol_version != PROTOCOL_VERSION:
        return (
            "Worker capability protocol version is unsupported: "
            f"{capability.protocol_version!r} (this coordinator speaks {PROTOCOL_VERSION!r})"
        )
    if capability.identity != identity:
        wpid, wcv, wrv = capability.identity
        pid, cv, rv = identity
        return (
            f"Worker hosts pipelineId={wpid}, contractVersion={wcv}, releaseVersion={wrv} "
            f"but active release is pipelineId={pid}, contractVersion={cv}, releaseVersion={rv}"
        )
    for name, theirs, ours in (
        ("artifactId", capability.artifact_id, artifact_id),
        ("artifactDigest", capability.artifact_digest, artifact_digest),
    ):
        if theirs and ours and theirs != ours:
            return (
                f"Worker artifact identity does not match active release: worker {name}={theirs}"
                f", release {name}={ours}"
            )
    return None
