"""The original's request signature (spec §7.2), shared by REST, gRPC and SQS.

``signature = hex(HMAC-SHA256(secret, METHOD\\nPATH\\nTIMESTAMP\\nNONCE\\nhex(sha256(BODY))))``
where TIMESTAMP is Java's ``Instant.toString()`` form and NONCE a random UUID. A
:class:`Signer` stamps outgoing requests from the injected clock; a :class:`Verifier` checks
presence, the timestamp against the tolerance, the signature in constant time and, last, that
the nonce was not seen before (through a :class:`~tpf.transports.workers.remote.nonces.NonceGuard`,
which may be shared by every replica of a worker).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import hmac
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from tpf.core.clock import Clock
from tpf.transports.workers.remote.nonces import NonceGuard

DEFAULT_TOLERANCE_MS = 120_000  # PT2M


class SignatureRejected(Exception):
    """A request's signature does not hold; ``reason`` is one of ``missing``, ``timestamp``,
    ``stale``, ``signature``, ``replayed`` (logged and counted, never echoed in detail)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def instant_text(epoch_ms: int) -> str:
    """``epoch_ms`` as Java's ``Instant.toString()`` prints it: seconds always, the fraction
    only when non-zero (in groups of three digits), ``Z``."""
    seconds, millis = divmod(epoch_ms, 1000)
    base = dt.datetime.fromtimestamp(seconds, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{base}.{millis:03d}Z" if millis else f"{base}Z"


def parse_instant(text: str) -> int:
    """Epoch milliseconds of an ISO-8601 instant (``...Z`` or with an offset); ``ValueError``
    if it is not one. Sub-millisecond digits are truncated."""
    if not text or len(text) > 40:
        raise ValueError("not an instant")
    parsed = dt.datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    if parsed.tzinfo is None:
        raise ValueError("an instant needs a zone")
    whole_seconds = int(parsed.replace(microsecond=0).timestamp())
    return whole_seconds * 1000 + parsed.microsecond // 1000


def signature(secret: str, method: str, path: str, timestamp: str, nonce: str, body: bytes) -> str:
    """The hex signature of one request."""
    text = "\n".join((method, path, timestamp, nonce, hashlib.sha256(body).hexdigest()))
    return hmac.new(secret.encode(), text.encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class Stamp:
    """What a signed request carries besides its body."""

    timestamp: str
    nonce: str
    signature: str


def _random_nonce() -> str:
    return str(uuid.uuid4())


class Signer:
    def __init__(
        self, secret: str, clock: Clock, nonce_factory: Callable[[], str] = _random_nonce
    ) -> None:
        self._secret = secret
        self._clock = clock
        self._nonce_factory = nonce_factory  # fixed in tests that replay the original's vectors

    def stamp(self, method: str, path: str, body: bytes) -> Stamp:
        timestamp = instant_text(self._clock.now_ms())
        nonce = self._nonce_factory()
        signed = signature(self._secret, method, path, timestamp, nonce, body)
        return Stamp(timestamp, nonce, signed)


class Verifier:
    def __init__(
        self,
        secret: str,
        clock: Clock,
        nonces: NonceGuard,
        tolerance_ms: int = DEFAULT_TOLERANCE_MS,
    ) -> None:
        self._secret = secret
        self._clock = clock
        self._nonces = nonces
        self.tolerance_ms = tolerance_ms
        self.refusals: Counter[str] = Counter()

    async def verify(
        self,
        method: str,
        path: str,
        body: bytes,
        timestamp: str | None,
        nonce: str | None,
        signed: str | None,
    ) -> None:
        """Return if the request holds, else raise :class:`SignatureRejected`. The nonce is
        claimed only once everything else holds, so a forged request cannot burn one. Every
        refusal is counted in :attr:`refusals` by reason (``unavailable`` when the check could
        not finish: the shared nonce store failed), for the worker's metrics."""
        try:
            await self._check(method, path, body, timestamp, nonce, signed)
        except SignatureRejected as exc:
            self.refusals[exc.reason] += 1
            raise
        except asyncio.CancelledError:
            raise
        except Exception:
            self.refusals["unavailable"] += 1
            raise

    async def _check(
        self,
        method: str,
        path: str,
        body: bytes,
        timestamp: str | None,
        nonce: str | None,
        signed: str | None,
    ) -> None:
        if not timestamp or not nonce or not signed:
            raise SignatureRejected("missing", "missing signature headers")
        try:
            at_ms = parse_instant(timestamp)
        except ValueError:
            raise SignatureRejected("timestamp", "malformed signature timestamp") from None
        if abs(self._clock.now_ms() - at_ms) > self.tolerance_ms:
            raise SignatureRejected("stale", "signature timestamp outside tolerance")
        expected = signature(self._secret, method, path, timestamp, nonce, body)
        if not hmac.compare_digest(expected, signed.lower()):
            raise SignatureRejected("signature", "invalid signature")
        if not await self._nonces.claim(nonce, at_ms + self.tolerance_ms):
            raise SignatureRejected("replayed", "nonce already used")
