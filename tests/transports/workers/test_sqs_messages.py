"""The SQS worker messages: the original's field names, its signature vectors, request ids with
coordinator tags, the hand-back delays and the queue checks."""

from __future__ import annotations

import msgspec
import orjson
import pytest

from tests.transports.workers.sqs_worker_kit import SECRET
from tpf.core.clock import FakeClock
from tpf.core.errors import ConfigError
from tpf.transports.workers.remote.contracts import MalformedRequest
from tpf.transports.workers.remote.nonces import MemoryNonceGuard
from tpf.transports.workers.remote.signing import (
    SignatureRejected,
    Signer,
    Verifier,
    parse_instant,
)
from tpf.transports.workers.remote.sqs_messages import (
    check_standard_queue,
    check_tag,
    decode_request,
    decode_response,
    encode,
    new_request_id,
    new_tag,
    sign_request,
    sign_response,
    tag_of,
    verify_request,
    verify_response,
)
from tpf.transports.workers.remote.sqs_responses import handback_delay_s

TS = "2026-01-01T00:00:00Z"
NONCE = "00000000-0000-0000-0000-000000000001"
COMMAND = '{"tenantId":"tenant-1"}'
# Computed by the original's TransitionWorkerSignature (issue 11).
REQUEST_VECTOR = "6dae5754ed5e920fb60105a5466400d32df3c59e4627e9c6a61bcd996f22da44"
RESPONSE_VECTOR = "ab03740b8fb8fce497ccd1102d6a68c317441cc1e3457e4137ca135374fdc283"


def fixed_signer() -> Signer:
    return Signer(SECRET, FakeClock(parse_instant(TS)), nonce_factory=lambda: NONCE)


def test_a_request_is_the_originals_message_with_its_signature_vector() -> None:
    request = sign_request(fixed_signer(), "req-1", COMMAND)
    assert orjson.loads(encode(request)) == {
        "requestId": "req-1",
        "protocolVersion": "1",
        "commandEncoding": "application/tpf-transition-envelope+json",
        "commandEnvelope": COMMAND,
        "timestamp": TS,
        "nonce": NONCE,
        "signature": REQUEST_VECTOR,
    }
    assert list(orjson.loads(encode(request))) == [
        "requestId",
        "protocolVersion",
        "commandEncoding",
        "commandEnvelope",
        "timestamp",
        "nonce",
        "signature",
    ]
    assert decode_request(encode(request)) == request


def test_a_response_is_the_originals_message_with_its_signature_vector() -> None:
    response = sign_response(fixed_signer(), "req-1", COMMAND)
    assert orjson.loads(encode(response)) == {
        "requestId": "req-1",
        "protocolVersion": "1",
        "resultEncoding": "application/tpf-transition-envelope+json",
        "resultEnvelope": COMMAND,
        "timestamp": TS,
        "nonce": NONCE,
        "signature": RESPONSE_VECTOR,
    }
    assert decode_response(encode(response)) == response


async def test_signatures_bind_the_request_id_and_the_direction() -> None:
    clock = FakeClock(parse_instant(TS))
    request = sign_request(Signer(SECRET, clock), "a:1", COMMAND)
    response = sign_response(Signer(SECRET, clock), "a:1", COMMAND)
    verifier = Verifier(SECRET, clock, MemoryNonceGuard(clock))
    with pytest.raises(SignatureRejected, match="invalid signature"):
        await verify_request(verifier, msgspec.structs.replace(request, request_id="b:1"))
    with pytest.raises(SignatureRejected, match="invalid signature"):
        # The same fields signed as a request do not hold as a response.
        await verify_response(
            verifier,
            decode_response(
                encode(response).replace(response.signature or "", request.signature or "")
            ),
        )
    await verify_request(verifier, request)
    await verify_response(verifier, response)


def test_a_request_without_signature_fields_decodes_and_its_fields_are_none() -> None:
    request = decode_request('{"requestId":"r","commandEnvelope":"{}","timestamp":null}')
    assert (request.timestamp, request.nonce, request.signature) == (None, None, None)


@pytest.mark.parametrize(
    "body",
    [
        "",
        "not json",
        "[]",
        '{"requestId":"r"}',
        '{"requestId":"","commandEnvelope":"{}"}',
        '{"requestId":1,"commandEnvelope":"{}"}',
    ],
)
def test_bodies_that_are_not_requests_are_malformed(body: str) -> None:
    with pytest.raises(MalformedRequest):
        decode_request(body)


def test_request_ids_carry_the_coordinator_tag() -> None:
    tag = new_tag()
    assert check_tag(tag) == tag and tag != new_tag()
    request_id = new_request_id(tag)
    assert tag_of(request_id) == tag and request_id != new_request_id(tag)
    assert tag_of("3f2b8c1e-0000-4000-8000-000000000000") is None  # the original's bare UUID
    assert tag_of("bad tag:x") is None
    for bad in ("", "a:b", "x" * 65, "sp ace"):
        with pytest.raises(ConfigError):
            check_tag(bad)


@pytest.mark.parametrize(
    ("receive_count", "delay_s"),
    [(0, 0), (1, 0), (2, 0), (3, 1), (4, 1), (5, 2), (6, 2), (7, 4), (8, 4), (9, 5), (99, 5)],
)
def test_hand_back_delays_grow_with_the_receive_count(receive_count: int, delay_s: int) -> None:
    assert handback_delay_s(receive_count, 5) == delay_s


def test_fifo_and_blank_queues_are_refused() -> None:
    with pytest.raises(ConfigError, match=r"worker\.sqs\.response-queue-url=.*FIFO"):
        check_standard_queue("worker.sqs.response-queue-url", "http://h/1/q.fifo")
    with pytest.raises(ConfigError, match="required"):
        check_standard_queue("worker.sqs.request-queue-url", " ")
    assert check_standard_queue("x", "http://h/1/q") == "http://h/1/q"
