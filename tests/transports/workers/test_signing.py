"""The original's worker signature: its own test vectors, and the verifier's refusals."""

from __future__ import annotations

import pytest

from tpf.core.clock import FakeClock
from tpf.transports.workers.remote import contracts
from tpf.transports.workers.remote.nonces import MemoryNonceGuard
from tpf.transports.workers.remote.signing import (
    SignatureRejected,
    Signer,
    Verifier,
    instant_text,
    parse_instant,
    signature,
)

SECRET = "worker-secret"
TS = "2026-01-01T00:00:00Z"
NONCE = "00000000-0000-0000-0000-000000000001"
BODY = b'{"tenantId":"tenant-1"}'

# Computed by the original's TransitionWorkerSignature (issue 11).
VECTORS = [
    (
        "POST",
        contracts.REST_EXECUTE_PATH,
        BODY,
        "dee08d0dde333aead7cbcf2f6fa36bd9a1e9433357c90bda0c9878f09155bc5a",
    ),
    (
        "GET",
        contracts.REST_CAPABILITIES_PATH,
        b"",
        "59e0a2fc8faa529eb4d7b660c0e552a34724e7946dd6d4e82957d0883558a998",
    ),
    (
        "GRPC",
        contracts.GRPC_EXECUTE_PATH,
        BODY,
        "55bfa8792097085a7fcced9b4366a085336efc82c69e63f06ca19ef43df6cd6c",
    ),
    (
        "SQS",
        contracts.SQS_REQUEST_PATH,
        b"req-1\n" + BODY,
        "6dae5754ed5e920fb60105a5466400d32df3c59e4627e9c6a61bcd996f22da44",
    ),
    (
        "SQS",
        contracts.SQS_RESPONSE_PATH,
        b"req-1\n" + BODY,
        "ab03740b8fb8fce497ccd1102d6a68c317441cc1e3457e4137ca135374fdc283",
    ),
]


@pytest.mark.parametrize(("method", "path", "body", "expected"), VECTORS)
def test_original_vectors(method: str, path: str, body: bytes, expected: str) -> None:
    assert signature(SECRET, method, path, TS, NONCE, body) == expected


def test_instant_text_matches_java() -> None:
    ms = parse_instant(TS)
    assert instant_text(ms) == TS
    assert instant_text(ms + 120) == "2026-01-01T00:00:00.120Z"
    assert parse_instant("2026-01-01T00:00:00.120Z") == ms + 120
    assert parse_instant("2026-01-01T01:00:00+01:00") == ms
    with pytest.raises(ValueError):
        parse_instant("2026-01-01T00:00:00")


def _verifier(clock: FakeClock) -> Verifier:
    return Verifier(SECRET, clock, MemoryNonceGuard(clock))


async def test_a_signed_request_verifies_once() -> None:
    clock = FakeClock(parse_instant(TS))
    verifier = _verifier(clock)
    stamp = Signer(SECRET, clock).stamp("POST", contracts.REST_EXECUTE_PATH, BODY)
    args = (stamp.timestamp, stamp.nonce, stamp.signature)
    await verifier.verify("POST", contracts.REST_EXECUTE_PATH, BODY, *args)
    with pytest.raises(SignatureRejected) as replay:
        await verifier.verify("POST", contracts.REST_EXECUTE_PATH, BODY, *args)
    assert replay.value.reason == "replayed"


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"body": b'{"tenantId":"tenant-2"}'}, "signature"),
        ({"path": contracts.REST_CAPABILITIES_PATH}, "signature"),
        ({"timestamp": None}, "missing"),
        ({"timestamp": "yesterday"}, "timestamp"),
        ({"advance": 120_001}, "stale"),
    ],
)
async def test_refusals(change: dict[str, object], reason: str) -> None:
    clock = FakeClock(parse_instant(TS))
    stamp = Signer(SECRET, clock).stamp("POST", contracts.REST_EXECUTE_PATH, BODY)
    verifier = _verifier(clock)
    clock.advance(int(change.get("advance", 0)))  # type: ignore[call-overload]
    with pytest.raises(SignatureRejected) as rejected:
        await verifier.verify(
            "POST",
            str(change.get("path", contracts.REST_EXECUTE_PATH)),
            change.get("body", BODY),  # type: ignore[arg-type]
            change.get("timestamp", stamp.timestamp),  # type: ignore[arg-type]
            stamp.nonce,
            stamp.signature,
        )
    assert rejected.value.reason == reason


async def test_a_forged_request_does_not_burn_the_nonce() -> None:
    clock = FakeClock(parse_instant(TS))
    verifier = _verifier(clock)
    stamp = Signer(SECRET, clock).stamp("POST", contracts.REST_EXECUTE_PATH, BODY)
    with pytest.raises(SignatureRejected):
        await verifier.verify(
            "POST", contracts.REST_EXECUTE_PATH, BODY, stamp.timestamp, stamp.nonce, "00" * 32
        )
    await verifier.verify(
        "POST", contracts.REST_EXECUTE_PATH, BODY, stamp.timestamp, stamp.nonce, stamp.signature
    )


async def test_memory_guard_forgets_expired_nonces() -> None:
    clock = FakeClock()
    guard = MemoryNonceGuard(clock, capacity=2)
    assert await guard.claim("a", clock.now_ms() + 10)
    assert await guard.claim("b", clock.now_ms() + 10)
    assert not await guard.claim("c", clock.now_ms() + 10)  # full of live nonces: refused
    clock.advance(11)
    assert await guard.claim("c", clock.now_ms() + 10)
    assert await guard.claim("a", clock.now_ms() + 10)  # expired before: a new claim


def test_a_stamp_with_the_original_inputs_gives_its_vector() -> None:
    signer = Signer(SECRET, FakeClock(parse_instant(TS)), nonce_factory=lambda: NONCE)
    stamp = signer.stamp("POST", contracts.REST_EXECUTE_PATH, BODY)
    assert (stamp.timestamp, stamp.nonce, stamp.signature) == (TS, NONCE, VECTORS[0][3])
