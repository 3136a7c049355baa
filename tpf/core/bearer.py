"""The one check of an ``Authorization: Bearer <token>`` header against an expected token.

Shared by the coordinator's edge (``/q/metrics``) and the worker process's probes, which sit in
different layers and answer a refusal in their own way; the comparison is constant-time.
"""

from __future__ import annotations

import hmac


def bearer_refusal(header: str, expected: str, *, route: str, hint: str) -> str | None:
    """Why ``header`` does not carry ``expected`` for ``route`` (a message ending in ``hint``),
    or None."""
    scheme, _, given = header.partition(" ")
    if not header:
        return f"missing Authorization header: {hint}"
    if scheme.lower() != "bearer" or not given.strip():
        return f"malformed Authorization header: {hint}"
    # Bytes, surrogates kept: a header is not always ASCII, and must not make this fail.
    if not hmac.compare_digest(given.strip().encode("utf-8", "surrogateescape"), expected.encode()):
        return f"invalid bearer token for {route}: {hint}"
    return None
