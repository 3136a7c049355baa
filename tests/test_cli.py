"""The ``tpf`` command, run as users run it: the installed console script in a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TPF = str(Path(sys.executable).parent / "tpf")


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [TPF, *args],
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_release_build_prints_the_descriptor_path(tmp_path: Path) -> None:
    done = run(
        "release",
        "build",
        "--pipeline",
        "demos.restaurant_approval:pipeline",
        "--output",
        str(tmp_path / "out"),
    )
    assert done.returncode == 0, done.stderr
    path = Path(done.stdout.strip())
    assert path.is_absolute() and path.name == "pipeline-release.json"
    descriptor = json.loads(path.read_text())
    assert descriptor["pipelineId"] == "org.pipelineframework.restaurantapproval"
    assert descriptor["artifacts"][0]["digest"].startswith("sha256:")


def test_release_build_rejects_a_bad_pipeline_reference(tmp_path: Path) -> None:
    done = run("release", "build", "--pipeline", "no_such_module:x", "--output", str(tmp_path))
    assert done.returncode != 0
    assert "cannot import 'no_such_module'" in done.stderr


def test_config_check_names_the_bad_key(tmp_path: Path) -> None:
    config = tmp_path / "app.properties"
    config.write_text("pipeline.orchestrator.state-provider=postgres\n")
    done = run("config", "check", "--config", str(config))
    assert done.returncode == 2
    assert "pipeline.orchestrator.state-provider" in done.stderr
    assert "memory, sqlite, dynamo" in done.stderr


def test_config_check_prints_effective_settings(tmp_path: Path) -> None:
    done = run("config", "check", env={"PIPELINE_ORCHESTRATOR_MAX_RETRIES": "0"})
    assert done.returncode == 0, done.stderr
    assert "max" in done.stdout.lower() and "0" in done.stdout


def test_config_check_reports_every_error(tmp_path: Path) -> None:
    config = tmp_path / "app.properties"
    config.write_text("pipeline.orchestrator.max-retries=lots\ntpf.http.port=99999\nstray-line\n")
    done = run("config", "check", "--config", str(config), env={"TPF_LEASE_MSS": "1"})
    assert done.returncode == 2
    assert "4 configuration errors" in done.stderr
    for fragment in ("max-retries", "tpf.http.port", "line 3", "did you mean TPF_LEASE_MS?"):
        assert fragment in done.stderr
    assert "Traceback" not in done.stderr


def test_config_check_prints_every_key_with_defaults_marked(tmp_path: Path) -> None:
    done = run("config", "check", env={"TPF_MAX_RETRIES": "0"})
    assert done.returncode == 0, done.stderr
    assert "pipeline.orchestrator.max-retries = 0  (set by TPF_MAX_RETRIES)" in done.stdout
    assert "pipeline.orchestrator.lease-ms = 30000  (default)" in done.stdout
    assert "tpf.http.port = 8081  (default)" in done.stdout
    assert "every /tpf/ API route will answer 404" in done.stderr  # both surfaces are off


def test_serve_refuses_to_start_listing_every_error(tmp_path: Path) -> None:
    config = tmp_path / "app.properties"
    config.write_text("pipeline.orchestrator.max-retries=lots\ntpf.http.port=99999\n")
    done = run("serve", "--config", str(config), env={"TPF_STATE_DIR": str(tmp_path / "s")})
    assert done.returncode == 2
    assert "2 configuration errors" in done.stderr
    assert "max-retries" in done.stderr and "tpf.http.port" in done.stderr


@pytest.mark.parametrize(
    ("lines", "named"),
    [
        (["kafka.security.protocol=SASL_SSL"], "kafka.sasl.mechanism=(unset) is not one of"),
        (
            ["kafka.security.protocol=SSL", "kafka.ssl.ca-file=/nonexistent/ca.pem"],
            "kafka.ssl.ca-file=/nonexistent/ca.pem could not be loaded",
        ),
        (["kafka.sasl.username=ada"], "kafka.sasl.* is set but kafka.security.protocol"),
        (["tpf.await-transport=sqs"], "tpf.await.sqs.request-queue-url"),
    ],
)
def test_config_check_refuses_what_startup_would(
    tmp_path: Path, lines: list[str], named: str
) -> None:
    """The chosen providers' settings and the Kafka connection's SASL/TLS rules, checked
    before anything connects: the same refusal ``tpf serve`` would give."""
    config = tmp_path / "c.properties"
    base = ["tpf.await-transport=kafka", "kafka.bootstrap-servers=127.0.0.1:9"]
    config.write_text("\n".join(base + lines) + "\n")
    done = run("config", "check", "--config", str(config))
    assert done.returncode == 2, done.stdout
    assert named in done.stderr
