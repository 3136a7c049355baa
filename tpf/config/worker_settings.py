"""The settings sections of the remote transition-worker protocols: REST, gRPC, SQS (spec §8).

Split from :mod:`tpf.config.settings` (which re-exports them) because they are one concern: how
a coordinator reaches a worker process (its *target*: ``worker.rest.base-url``,
``worker.grpc.endpoint`` or ``worker.sqs.request-queue-url``) and how a worker process serves
one (``server-enabled``). Both sides sign with the protocol's shared secret, given by value
(``shared-secret``) or by reference (``shared-secret-ref``: ``env:NAME`` or ``file:PATH``),
resolved when a client or server is built (:func:`tpf.config.worker_secrets.shared_secret`).
Key names are in :mod:`tpf.config.worker_keys`; the checks across them (one target at most, a
secret when enabled...) in :mod:`tpf.config.worker_targets`.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "DEFAULT_REST_CAPABILITIES_PATH",
    "DEFAULT_REST_PATH",
    "GrpcWorkerSettings",
    "RestWorkerSettings",
    "SqsWorkerSettings",
    "worker_aws_services",
]

# The original's worker server supports only these paths; the seams name them too
# (tpf.transports.workers.remote.contracts), which this layer cannot import.
DEFAULT_REST_PATH = "/pipeline/worker/transitions/execute"
DEFAULT_REST_CAPABILITIES_PATH = "/pipeline/worker/capabilities"
_TOLERANCE_MS = 120_000  # PT2M


@dataclass(frozen=True)
class RestWorkerSettings:
    """``pipeline.orchestrator.worker.rest.*``: the REST client (``base_url``) and server."""

    base_url: str | None = None
    path: str = DEFAULT_REST_PATH
    capabilities_path: str = DEFAULT_REST_CAPABILITIES_PATH
    connect_timeout_ms: int = 2_000
    request_timeout_ms: int = 30_000
    server_enabled: bool = False
    shared_secret: str | None = None
    shared_secret_ref: str | None = None
    signature_tolerance_ms: int = _TOLERANCE_MS


@dataclass(frozen=True)
class GrpcWorkerSettings:
    """``pipeline.orchestrator.worker.grpc.*``: the gRPC client (``endpoint``, ``host:port``)
    and server. TLS unless ``plaintext``; the CA and the server's certificate files are ours
    (``tpf.worker.grpc.*``: the original leaves them to Quarkus' gRPC settings)."""

    endpoint: str | None = None
    plaintext: bool = False
    request_timeout_ms: int = 30_000
    max_inbound_message_size: int = 4_194_304
    server_enabled: bool = False
    shared_secret: str | None = None
    shared_secret_ref: str | None = None
    signature_tolerance_ms: int = _TOLERANCE_MS
    ca_file: str | None = None  # client: trusted roots (default: the system's)
    tls_cert_file: str | None = None  # server
    tls_key_file: str | None = None  # server


@dataclass(frozen=True)
class SqsWorkerSettings:
    """``pipeline.orchestrator.worker.sqs.*``: SQS request/reply. A coordinator sends to
    ``request_queue_url`` and reads replies from ``response_queue_url``; a worker process
    (``server_enabled``) reads the request queue and answers on its response queue. SQS has no
    capability call: the identity the workers behind the queue host is configured here."""

    request_queue_url: str | None = None
    response_queue_url: str | None = None
    pipeline_id: str | None = None
    contract_version: str | None = None
    release_version: str | None = None
    artifact_id: str | None = None
    artifact_digest: str | None = None
    server_enabled: bool = False
    request_timeout_ms: int = 30_000
    poll_start_delay_ms: int = 0
    visibility_timeout_ms: int = 30_000
    shared_secret: str | None = None
    shared_secret_ref: str | None = None
    signature_tolerance_ms: int = _TOLERANCE_MS


def worker_aws_services(sqs: SqsWorkerSettings) -> tuple[str, ...]:
    """The AWS services the worker protocols call: SQS for either side of SQS request/reply."""
    return ("sqs",) if sqs.request_queue_url or sqs.server_enabled else ()
