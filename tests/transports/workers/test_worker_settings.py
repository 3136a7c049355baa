"""The worker protocol keys (spec §8: worker.rest/grpc/sqs.*) and the startup guards of §6.4."""

from __future__ import annotations

from pathlib import Path

import pytest

from tpf.aws.clients import needs_aws
from tpf.config import load_settings
from tpf.config.check import check_configuration, effective_configuration, warnings
from tpf.config.settings import Settings
from tpf.config.worker_secrets import shared_secret
from tpf.config.worker_targets import worker_target
from tpf.coordinator import Coordinator
from tpf.core.errors import ConfigError

W = "pipeline.orchestrator.worker."
REST = {f"{W}rest.base-url": "http://worker:8181", f"{W}rest.shared-secret": "s3cret"}
GRPC = {f"{W}grpc.endpoint": "worker:9000", f"{W}grpc.shared-secret": "s3cret"}
SQS = {
    f"{W}sqs.request-queue-url": "http://sqs.local/000000000000/tpf-worker-requests",
    f"{W}sqs.response-queue-url": "http://sqs.local/000000000000/tpf-worker-responses",
    f"{W}sqs.shared-secret": "s3cret",
}


def errors(env: dict[str, str] | None = None, **keys: str) -> list[str]:
    return list(check_configuration(env or {}, overrides=keys).errors)


def test_every_key_parses_into_its_section() -> None:
    s = load_settings(
        {},
        overrides={
            **REST,
            f"{W}rest.connect-timeout": "PT1S",
            f"{W}rest.request-timeout": "PT5S",
            f"{W}rest.signature-tolerance": "PT1M",
            f"{W}grpc.plaintext": "true",
            f"{W}grpc.max-inbound-message-size": "1048576",
            f"{W}grpc.request-timeout": "PT3S",
            "tpf.worker.grpc.ca-file": "/etc/ca.pem",
            f"{W}sqs.pipeline-id": "p",
            f"{W}sqs.contract-version": "sha256:c",
            f"{W}sqs.release-version": "v1",
            f"{W}sqs.poll-start-delay": "PT2S",
            f"{W}sqs.visibility-timeout": "PT45S",
        },
    )
    assert s.worker_rest.base_url == "http://worker:8181"
    assert (s.worker_rest.connect_timeout_ms, s.worker_rest.request_timeout_ms) == (1_000, 5_000)
    assert s.worker_rest.signature_tolerance_ms == 60_000
    assert s.worker_grpc.plaintext and s.worker_grpc.max_inbound_message_size == 1_048_576
    assert (s.worker_grpc.request_timeout_ms, s.worker_grpc.ca_file) == (3_000, "/etc/ca.pem")
    assert (s.worker_sqs.pipeline_id, s.worker_sqs.release_version) == ("p", "v1")
    assert (s.worker_sqs.poll_start_delay_ms, s.worker_sqs.visibility_timeout_ms) == (2_000, 45_000)
    assert s.unsupported == {}
    assert not any("worker.rest" in w for w in warnings(s))
    # The original's defaults.
    d = Settings()
    assert (d.worker_rest.connect_timeout_ms, d.worker_rest.request_timeout_ms) == (2_000, 30_000)
    assert d.worker_grpc.max_inbound_message_size == 4_194_304 and not d.worker_grpc.plaintext
    assert d.worker_sqs.visibility_timeout_ms == d.worker_sqs.request_timeout_ms == 30_000
    assert d.worker_rest.signature_tolerance_ms == 120_000
    assert worker_target(d) is None


def test_config_check_shows_them_with_literal_secrets_redacted() -> None:
    report = check_configuration(
        {"WORKER_SECRET": "x"},
        overrides={
            f"{W}rest.base-url": "http://worker:8181",
            f"{W}rest.shared-secret-ref": "env:WORKER_SECRET",
            f"{W}grpc.shared-secret": "literal-secret",
        },
    )
    assert report.errors == ()
    lines = effective_configuration(report)
    assert f"{W}rest.base-url = http://worker:8181  (override)" in lines
    assert f"{W}rest.shared-secret-ref = env:WORKER_SECRET  (override)" in lines
    assert f"{W}grpc.shared-secret = <redacted>  (override)" in lines
    assert f"{W}sqs.visibility-timeout = 30000  (default)" in lines
    assert not any("literal-secret" in line for line in lines)


def test_the_secret_by_value_or_by_env_or_file_reference(tmp_path: Path) -> None:
    s = load_settings({}, overrides=REST)
    assert shared_secret(s, "rest") == "s3cret"
    by_env = load_settings(
        {"TPF_WORKER_SECRET": "from-env"},
        overrides={
            **REST,
            f"{W}rest.shared-secret": "",
            f"{W}rest.shared-secret-ref": "env:TPF_WORKER_SECRET",
        },
    )
    assert shared_secret(by_env, "rest", {"TPF_WORKER_SECRET": "from-env"}) == "from-env"
    secret_file = tmp_path / "worker-secret"
    secret_file.write_text("from-file\n")  # as `echo from-file > worker-secret` writes it
    by_file = load_settings(
        {},
        overrides={
            **GRPC,
            f"{W}grpc.shared-secret": "",
            f"{W}grpc.shared-secret-ref": f"file:{secret_file}",
        },
    )
    assert shared_secret(by_file, "grpc") == "from-file"


def test_a_protocol_in_use_needs_exactly_one_resolvable_secret(tmp_path: Path) -> None:
    assert errors(**{f"{W}rest.base-url": "http://worker:8181"}) == [
        f"{W}rest.shared-secret or {W}rest.shared-secret-ref is required when "
        f"{W}rest.base-url is configured"
    ]
    assert errors(**{f"{W}grpc.server-enabled": "true", f"{W}grpc.plaintext": "true"}) == [
        f"{W}grpc.shared-secret or {W}grpc.shared-secret-ref is required when "
        f"{W}grpc.server-enabled=true"
    ]
    [both] = errors(**REST, **{f"{W}rest.shared-secret-ref": "env:X"})
    assert "set exactly one" in both
    [unresolved] = errors(
        **{**REST, f"{W}rest.shared-secret": "", f"{W}rest.shared-secret-ref": "env:NOPE"}
    )
    assert unresolved.startswith(f"{W}rest.shared-secret-ref: ") and "NOPE is not set" in unresolved
    [missing_file] = errors(
        **{**REST, f"{W}rest.shared-secret": "", f"{W}rest.shared-secret-ref": f"file:{tmp_path}/x"}
    )
    assert "cannot read it" in missing_file
    [not_a_ref] = errors(
        **{**REST, f"{W}rest.shared-secret": "", f"{W}rest.shared-secret-ref": "s"}
    )
    assert "expected env:NAME or file:PATH" in not_a_ref
    # Not in use: a secret is not needed.
    assert errors(**{f"{W}rest.request-timeout": "PT5S"}) == []


def test_more_than_one_target_is_ambiguous_and_rest_wins_the_selection() -> None:
    [ambiguous] = errors(**REST, **GRPC)
    assert ambiguous.startswith("Ambiguous transition worker target:")
    assert f"{W}rest.base-url, {W}grpc.endpoint" in ambiguous
    assert len(errors(**REST, **GRPC, **SQS)) == 1
    # Settings built in code skip the check; selection reads the original's order.
    both = Settings().replace(worker_rest__base_url="http://a:1", worker_grpc__endpoint="b:2")
    assert worker_target(both) == "rest"
    assert worker_target(Settings().replace(worker_sqs__request_queue_url="http://q")) == "sqs"


def test_require_remote_worker_needs_a_target_when_the_control_plane_is_enabled() -> None:
    on = {
        "pipeline.orchestrator.control-plane.enabled": "true",
        "pipeline.orchestrator.control-plane.admin-token": "t",
        "pipeline.orchestrator.control-plane.require-remote-worker": "true",
    }
    [refused] = errors(**on)
    assert "require-remote-worker=true needs a remote transition worker target" in refused
    assert errors(**on, **REST) == []
    assert errors(**on, **SQS) == []
    control_plane_off = {"pipeline.orchestrator.control-plane.require-remote-worker": "true"}
    assert errors(**control_plane_off) == []


@pytest.mark.parametrize(
    ("keys", "message"),
    [
        ({**REST, f"{W}rest.path": "/custom"}, "rest.path: only the default"),
        ({**REST, f"{W}rest.capabilities-path": "/caps"}, "rest.capabilities-path: only the"),
        ({**REST, f"{W}rest.base-url": "worker:8181"}, "Invalid pipeline.orchestrator.worker.rest"),
        ({**GRPC, f"{W}grpc.endpoint": "worker"}, "Invalid pipeline.orchestrator.worker.grpc"),
        ({**GRPC, f"{W}grpc.endpoint": "worker:http"}, "expected host:port"),
        (
            {f"{W}grpc.server-enabled": "true", f"{W}grpc.shared-secret": "s"},
            "needs tpf.worker.grpc.tls-cert-file",
        ),
        ({**SQS, f"{W}sqs.response-queue-url": ""}, "sqs.response-queue-url is required"),
        (
            {f"{W}sqs.server-enabled": "true", f"{W}sqs.shared-secret": "s"},
            "sqs.request-queue-url is required when pipeline.orchestrator.worker.sqs.server",
        ),
        ({**SQS, f"{W}sqs.request-queue-url": "http://q/x.fifo"}, "is a FIFO queue"),
        ({**SQS, f"{W}sqs.request-timeout": "PT60S"}, "visibility-timeout (30000 ms) must be"),
    ],
)
def test_protocol_settings_that_cannot_work_are_refused(keys: dict[str, str], message: str) -> None:
    found = errors(**keys)
    assert any(message in e for e in found), found


def test_a_grpc_server_with_tls_files_or_plaintext_is_accepted() -> None:
    server = {f"{W}grpc.server-enabled": "true", f"{W}grpc.shared-secret": "s"}
    tls = {"tpf.worker.grpc.tls-cert-file": "/c.pem", "tpf.worker.grpc.tls-key-file": "/k.pem"}
    assert errors(**server, **tls) == []
    assert errors(**server, **{f"{W}grpc.plaintext": "true"}) == []


def test_sqs_request_reply_needs_aws_clients() -> None:
    assert needs_aws(load_settings({}, overrides=SQS))
    assert not needs_aws(load_settings({}, overrides=REST))


async def test_coordinator_open_refuses_what_the_configuration_check_refuses() -> None:
    ambiguous = Settings().replace(
        state__provider="memory",
        worker_rest__base_url="http://a:1",
        worker_rest__shared_secret="s",
        worker_grpc__endpoint="b:2",
        worker_grpc__shared_secret="s",
    )
    with pytest.raises(ConfigError, match="Ambiguous transition worker target"):
        await Coordinator.open(ambiguous)
