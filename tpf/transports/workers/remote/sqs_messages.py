"""The original's SQS request/reply messages (spec §7.5), their signatures and request ids.

A request is ``{"requestId","protocolVersion":"1","commandEncoding":
"application/tpf-transition-envelope+json","commandEnvelope":"<command JSON as a string>",
"timestamp","nonce","signature"}`` signed with METHOD ``SQS``, PATH
``/pipeline/worker/transitions/sqs/request`` and BODY ``requestId + "\\n" + commandEnvelope``;
a response is ``{"requestId","protocolVersion","resultEncoding","resultEnvelope","timestamp",
"nonce","signature"}``, signed the same way with PATH ``.../sqs/response``. The request id is
inside the signed body, so a response cannot be moved to another request.

Request ids are ``<coordinator tag>:<uuid>``: still an opaque string to a worker (the original's
worker echoes it unchanged), and it tells every coordinator sharing a response queue whose
response a message is (:mod:`tpf.transports.workers.remote.sqs_client`). Requests also carry the
tag as the message attribute :data:`TAG_ATTRIBUTE`, which our worker copies onto the response,
for operators looking at a queue; routing reads the signed request id only.
"""

from __future__ import annotations

import re
import uuid
from typing import TypeVar

import msgspec

from tpf.core.errors import ConfigError
from tpf.transports.workers.remote.contracts import (
    ENVELOPE_ENCODING,
    PROTOCOL_VERSION,
    SQS_REQUEST_PATH,
    SQS_RESPONSE_PATH,
    MalformedRequest,
)
from tpf.transports.workers.remote.signing import Signer, Verifier

SQS_METHOD = "SQS"
TAG_ATTRIBUTE = "tpf-coordinator-tag"
_TAG = re.compile(r"[A-Za-z0-9_-]{1,64}")


class SqsRequest(msgspec.Struct, kw_only=True, rename="camel", frozen=True):
    """``SqsTransitionWorkerRequest``. The signature fields may be missing on the wire: such a
    request is unauthenticated (dropped), not malformed."""

    request_id: str
    protocol_version: str = ""
    command_encoding: str = ""
    command_envelope: str
    timestamp: str | None = None
    nonce: str | None = None
    signature: str | None = None


class SqsResponse(msgspec.Struct, kw_only=True, rename="camel", frozen=True):
    """``SqsTransitionWorkerResponse``."""

    request_id: str
    protocol_version: str = ""
    result_encoding: str = ""
    result_envelope: str
    timestamp: str | None = None
    nonce: str | None = None
    signature: str | None = None


def signed_body(request_id: str, envelope: str) -> bytes:
    """What a request's or a response's signature covers besides method and path."""
    return f"{request_id}\n{envelope}".encode()


def sign_request(signer: Signer, request_id: str, command_envelope: str) -> SqsRequest:
    stamp = signer.stamp(SQS_METHOD, SQS_REQUEST_PATH, signed_body(request_id, command_envelope))
    return SqsRequest(
        request_id=request_id,
        protocol_version=PROTOCOL_VERSION,
        command_encoding=ENVELOPE_ENCODING,
        command_envelope=command_envelope,
        timestamp=stamp.timestamp,
        nonce=stamp.nonce,
        signature=stamp.signature,
    )


def sign_response(signer: Signer, request_id: str, result_envelope: str) -> SqsResponse:
    stamp = signer.stamp(SQS_METHOD, SQS_RESPONSE_PATH, signed_body(request_id, result_envelope))
    return SqsResponse(
        request_id=request_id,
        protocol_version=PROTOCOL_VERSION,
        result_encoding=ENVELOPE_ENCODING,
        result_envelope=result_envelope,
        timestamp=stamp.timestamp,
        nonce=stamp.nonce,
        signature=stamp.signature,
    )


async def verify_request(verifier: Verifier, request: SqsRequest) -> None:
    """Raises :class:`~tpf.transports.workers.remote.signing.SignatureRejected`."""
    body = signed_body(request.request_id, request.command_envelope)
    await verifier.verify(
        SQS_METHOD, SQS_REQUEST_PATH, body, request.timestamp, request.nonce, request.signature
    )


async def verify_response(verifier: Verifier, response: SqsResponse) -> None:
    """Raises :class:`~tpf.transports.workers.remote.signing.SignatureRejected`."""
    body = signed_body(response.request_id, response.result_envelope)
    await verifier.verify(
        SQS_METHOD, SQS_RESPONSE_PATH, body, response.timestamp, response.nonce, response.signature
    )


def encode(message: SqsRequest | SqsResponse) -> str:
    return msgspec.json.encode(message).decode()


def decode_request(body: str) -> SqsRequest:
    return _checked(_decode(body, SqsRequest))


def decode_response(body: str) -> SqsResponse:
    return _checked(_decode(body, SqsResponse))


_M = TypeVar("_M", SqsRequest, SqsResponse)


def _decode(body: str, kind: type[_M]) -> _M:
    try:
        return msgspec.json.decode(body, type=kind)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise MalformedRequest(f"not an SQS worker message: {exc}") from None


def _checked(message: _M) -> _M:
    if not message.request_id:
        raise MalformedRequest("an SQS worker message needs a requestId")
    return message


def new_tag() -> str:
    """A coordinator's random instance tag (48 bits: two coordinators never share one)."""
    return uuid.uuid4().hex[:12]


def check_tag(tag: str) -> str:
    if not _TAG.fullmatch(tag):
        raise ConfigError(
            f"sqs worker transport: instance tag {tag!r} must be 1-64 of A-Z a-z 0-9 _ -"
        )
    return tag


def new_request_id(tag: str) -> str:
    return f"{tag}:{uuid.uuid4()}"


def tag_of(request_id: str) -> str | None:
    """The coordinator tag of a request id; ``None`` for one without (not ours, whoever sent
    it: the original coordinator's ids are bare UUIDs)."""
    tag, sep, _ = request_id.partition(":")
    return tag if sep and _TAG.fullmatch(tag) else None


def check_standard_queue(setting: str, url: str) -> str:
    """Refuse a blank or FIFO queue URL: a FIFO queue needs a message group id the original's
    messages do not carry, and its ordering would stall every coordinator behind one hand-back."""
    if not url or not url.strip():
        raise ConfigError(f"{setting} is required")
    if url.rstrip("/").endswith(".fifo"):
        raise ConfigError(f"{setting}={url} is a FIFO queue; SQS workers use standard queues")
    return url
