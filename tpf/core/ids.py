"""Deterministic identifiers.

Await units, interactions and correlation ids are derived (UUIDv3, as the original does) from
what identifies them, so a transition that is run twice (a lost lease, a crash before commit)
derives the same interaction instead of creating a second one.
"""

from __future__ import annotations

import base64
import hashlib
import uuid

# The original uses UUID.nameUUIDFromBytes, i.e. a version-3 UUID over the raw bytes with no
# namespace. uuid.uuid3 needs a namespace, so build the same thing by hand.


def name_uuid(basis: str) -> str:
    """Java's ``UUID.nameUUIDFromBytes(basis.getBytes(UTF_8))``."""
    digest = bytearray(hashlib.md5(basis.encode("utf-8"), usedforsecurity=False).digest())
    digest[6] = (digest[6] & 0x0F) | 0x30  # version 3
    digest[8] = (digest[8] & 0x3F) | 0x80  # IETF variant
    return str(uuid.UUID(bytes=bytes(digest)))


def transition_key(execution_id: str, step_index: int, attempt: int) -> str:
    return f"{execution_id}:{step_index}:{attempt}"


def unit_id(tenant_id: str, execution_id: str, step_id: str, step_index: int) -> str:
    return name_uuid(f"{tenant_id}:{execution_id}:{step_id}:{step_index}")


def interaction_id(
    tenant_id: str, execution_id: str, step_id: str, step_index: int, attempt: int
) -> str:
    """Unlike the original's random id, derived: a re-run of the same transition attempt finds
    the interaction it already created; a re-drive (attempt + 1) gets a fresh one."""
    return name_uuid(f"{tenant_id}:{execution_id}:{step_id}:{step_index}:{attempt}:interaction")


def correlation_id(
    tenant_id: str, execution_id: str, step_id: str, idempotency_key: str, attempt: int
) -> str:
    return name_uuid(f"{tenant_id}:{execution_id}:{step_id}:{idempotency_key}:{attempt}")


def server_execution_key(tenant_id: str, canonical_identity_json: bytes) -> str:
    """A derived execution key: ``base64url(sha256(tenant + ":" + json(identity)))``.

    ``identity`` is what the idempotency conflict check compares (``[pipelineId, inputShape,
    input]``), not the input alone as in the original: otherwise the same payload sent to a
    second pipeline, or as another shape, would collide with a key the client never sent.
    """
    digest = hashlib.sha256(tenant_id.encode("utf-8") + b":" + canonical_identity_json).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def new_execution_id() -> str:
    return str(uuid.uuid4())
