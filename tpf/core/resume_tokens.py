"""Signed await resume tokens (spec §4.6), wire-compatible with the original's.

A token lets an outside party complete an interaction without knowing its id, and proves the
coordinator issued it: ``base64url_nopad(json{tenantId, interactionId, correlationId,
executionId, stepId, deadlineEpochMs, issuedAtEpochMs}) + "." + base64url_nopad(HMAC-SHA256(
secret, <the first part as ASCII>))``. Verification checks the signature, then that every field
equals the durable interaction, then the deadline. Rotating the secret invalidates every
outstanding token.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac

import msgspec

from tpf.core.errors import ValidationError
from tpf.core.records import AwaitInteraction

CODE_INVALID = "RESUME_TOKEN_INVALID"
# Expiry is reported last and under its own code: a caller holding an otherwise valid token for an
# overdue interaction can still route it through completion, which times the interaction out.
CODE_EXPIRED = "RESUME_TOKEN_EXPIRED"


class TokenPayload(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    """The signed part; field order is the original's (its JSON is what gets signed)."""

    tenant_id: str
    interaction_id: str
    correlation_id: str
    execution_id: str
    step_id: str
    deadline_epoch_ms: int
    issued_at_epoch_ms: int


_decoder = msgspec.json.Decoder(TokenPayload)


def issue(secret: str, interaction: AwaitInteraction, now_ms: int) -> str:
    """A token for ``interaction``, issued at ``now_ms``."""
    payload = TokenPayload(
        tenant_id=interaction.tenant_id,
        interaction_id=interaction.interaction_id,
        correlation_id=interaction.correlation_id,
        execution_id=interaction.execution_id,
        step_id=interaction.step_id,
        deadline_epoch_ms=interaction.deadline_epoch_ms,
        issued_at_epoch_ms=now_ms,
    )
    encoded = _b64encode(msgspec.json.encode(payload))
    return f"{encoded}.{_b64encode(_sign(secret, encoded))}"


def peek(token: str) -> TokenPayload:
    """The token's claims, unverified: only a lookup hint until :func:`verify` passes."""
    encoded, _, signature = token.strip().partition(".")
    if not encoded or not signature:
        raise ValidationError(
            "resumeToken: malformed (expected <payload>.<signature>)", code=CODE_INVALID
        )
    try:
        return _decoder.decode(_b64decode(encoded))
    # RecursionError: an unknown member nested deep enough to exhaust the decoder's stack (the
    # claims are flat, so any deep JSON here is a forgery, not a real token).
    except (ValueError, msgspec.DecodeError, RecursionError):
        raise ValidationError("resumeToken: malformed payload", code=CODE_INVALID) from None


def verify(secret: str, token: str, interaction: AwaitInteraction, now_ms: int) -> TokenPayload:
    """Check ``token`` against the stored ``interaction``; raise ValidationError if it fails."""
    claims = peek(token)
    encoded, _, signature = token.strip().partition(".")
    try:
        given = _b64decode(signature)
    except ValueError:
        raise ValidationError("resumeToken: malformed signature", code=CODE_INVALID) from None
    if not hmac.compare_digest(given, _sign(secret, encoded)):
        raise ValidationError("resumeToken: signature does not verify", code=CODE_INVALID)
    for name, actual, expected in (
        ("tenantId", claims.tenant_id, interaction.tenant_id),
        ("interactionId", claims.interaction_id, interaction.interaction_id),
        ("correlationId", claims.correlation_id, interaction.correlation_id),
        ("executionId", claims.execution_id, interaction.execution_id),
        ("stepId", claims.step_id, interaction.step_id),
        ("deadlineEpochMs", claims.deadline_epoch_ms, interaction.deadline_epoch_ms),
    ):
        if actual != expected:
            raise ValidationError(
                f"resumeToken: {name} does not match the interaction", code=CODE_INVALID
            )
    if now_ms > claims.deadline_epoch_ms:
        raise ValidationError(
            "resumeToken: the interaction's deadline has passed", code=CODE_EXPIRED
        )
    return claims


def _sign(secret: str, encoded_payload: str) -> bytes:
    return hmac.new(secret.encode(), encoded_payload.encode("ascii"), hashlib.sha256).digest()


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    try:
        raw = text.encode("ascii")
        return base64.urlsafe_b64decode(raw + b"=" * (-len(raw) % 4))
    except (UnicodeEncodeError, binascii.Error) as exc:
        raise ValueError(str(exc)) from None
