"""The configuration keys of the remote worker protocols (``worker.rest.*``, ``worker.grpc.*``,
``worker.sqs.*``: spec §8), plus our gRPC TLS file keys (``tpf.worker.grpc.*``).

Merged into the one key table by :mod:`tpf.config.keys` (same shape: property name ->
``(Settings section.field, parser)``); the sections are in :mod:`tpf.config.worker_settings`.
"""

from __future__ import annotations

from tpf.config.parsers import Parser, _bool, _duration, _int, _text

__all__ = ["WORKER_PROTOCOL_KEYS"]

_W = "pipeline.orchestrator.worker."


def _secrets(protocol: str) -> dict[str, tuple[str, Parser]]:
    section = f"worker_{protocol}"
    return {
        f"{_W}{protocol}.shared-secret": (f"{section}.shared_secret", _text),
        f"{_W}{protocol}.shared-secret-ref": (f"{section}.shared_secret_ref", _text),
        f"{_W}{protocol}.signature-tolerance": (
            f"{section}.signature_tolerance_ms",
            _duration(1_000),
        ),
    }


WORKER_PROTOCOL_KEYS: dict[str, tuple[str, Parser]] = {
    _W + "rest.base-url": ("worker_rest.base_url", _text),
    _W + "rest.path": ("worker_rest.path", _text),
    _W + "rest.capabilities-path": ("worker_rest.capabilities_path", _text),
    _W + "rest.connect-timeout": ("worker_rest.connect_timeout_ms", _duration(1)),
    _W + "rest.request-timeout": ("worker_rest.request_timeout_ms", _duration(1)),
    _W + "rest.server-enabled": ("worker_rest.server_enabled", _bool),
    **_secrets("rest"),
    _W + "grpc.endpoint": ("worker_grpc.endpoint", _text),
    _W + "grpc.plaintext": ("worker_grpc.plaintext", _bool),
    _W + "grpc.request-timeout": ("worker_grpc.request_timeout_ms", _duration(1)),
    _W + "grpc.max-inbound-message-size": ("worker_grpc.max_inbound_message_size", _int(1024)),
    _W + "grpc.server-enabled": ("worker_grpc.server_enabled", _bool),
    **_secrets("grpc"),
    "tpf.worker.grpc.ca-file": ("worker_grpc.ca_file", _text),
    "tpf.worker.grpc.tls-cert-file": ("worker_grpc.tls_cert_file", _text),
    "tpf.worker.grpc.tls-key-file": ("worker_grpc.tls_key_file", _text),
    _W + "sqs.request-queue-url": ("worker_sqs.request_queue_url", _text),
    _W + "sqs.response-queue-url": ("worker_sqs.response_queue_url", _text),
    _W + "sqs.pipeline-id": ("worker_sqs.pipeline_id", _text),
    _W + "sqs.contract-version": ("worker_sqs.contract_version", _text),
    _W + "sqs.release-version": ("worker_sqs.release_version", _text),
    _W + "sqs.artifact-id": ("worker_sqs.artifact_id", _text),
    _W + "sqs.artifact-digest": ("worker_sqs.artifact_digest", _text),
    _W + "sqs.server-enabled": ("worker_sqs.server_enabled", _bool),
    _W + "sqs.request-timeout": ("worker_sqs.request_timeout_ms", _duration(1)),
    _W + "sqs.poll-start-delay": ("worker_sqs.poll_start_delay_ms", _duration(0)),
    _W + "sqs.visibility-timeout": ("worker_sqs.visibility_timeout_ms", _duration(1_000)),
    **_secrets("sqs"),
}
