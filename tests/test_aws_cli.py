"""``tpf bootstrap aws`` and ``tpf dev aws``, run as users run them: the console script in a
subprocess, against the moto fixture (bootstrap) or the moto server it starts (dev)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import boto3

from tests.aws import reset_moto

ROOT = Path(__file__).resolve().parents[1]
TPF = str(Path(sys.executable).parent / "tpf")
# A queue/bucket configuration on embedded state, so no DynamoDB table is involved.
CONFIG = """\
pipeline.orchestrator.dispatcher-provider=sqs
pipeline.orchestrator.dlq-provider=sqs
pipeline.orchestrator.releases.storage.provider=s3
pipeline.orchestrator.state-provider=memory
pipeline.orchestrator.releases.registry.provider=memory
pipeline.orchestrator.worker.lifecycle.provider=memory
"""
RECIPE_NAMES = """\
pipeline.orchestrator.queue-url=https://sqs.eu-west-1.amazonaws.com/123456789012/tpf-work
pipeline.orchestrator.dlq-url=https://sqs.eu-west-1.amazonaws.com/123456789012/tpf-execution-dlq
pipeline.orchestrator.releases.storage.s3.bucket=tpf-release-artifacts
pipeline.orchestrator.sqs.region=eu-west-1
pipeline.orchestrator.releases.storage.s3.region=eu-west-1
"""


def clean_env() -> dict[str, str]:
    """The environment without AWS credentials or TPF configuration (the command supplies
    fake credentials for a local endpoint itself)."""
    return {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AWS_", "TPF_", "PIPELINE_ORCHESTRATOR_"))
    }


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [TPF, *args], cwd=ROOT, env=clean_env(), capture_output=True, text=True, timeout=60
    )


def test_bootstrap_aws_creates_once_then_has_nothing_to_create(
    moto_endpoint: str, tmp_path: Path
) -> None:
    reset_moto(moto_endpoint)
    config = tmp_path / "app.properties"
    config.write_text(CONFIG + RECIPE_NAMES)
    first = run("bootstrap", "aws", "--endpoint-url", moto_endpoint, "--config", str(config))
    assert first.returncode == 0, first.stderr
    lines = [line.split(" at ")[0] for line in first.stdout.splitlines()]
    assert lines == [
        "created queue tpf-work",
        "created queue tpf-execution-dlq",
        "created bucket tpf-release-artifacts",
    ]
    second = run("bootstrap", "aws", "--endpoint-url", moto_endpoint, "--config", str(config))
    assert second.returncode == 0, second.stderr
    assert second.stdout.strip() == "nothing to create"


def test_bootstrap_aws_names_a_missing_setting(moto_endpoint: str, tmp_path: Path) -> None:
    config = tmp_path / "app.properties"
    config.write_text(CONFIG)  # no queue URL
    done = run("bootstrap", "aws", "--endpoint-url", moto_endpoint, "--config", str(config))
    assert done.returncode == 2
    assert "pipeline.orchestrator.queue-url is required" in done.stderr


def test_dev_aws_serves_a_bootstrapped_moto_until_terminated(tmp_path: Path) -> None:
    config = tmp_path / "app.properties"
    config.write_text(CONFIG)  # names fall back to the recipe's defaults
    proc = subprocess.Popen(
        [TPF, "dev", "aws", "--port", "0", "--config", str(config)],
        cwd=ROOT,
        env=clean_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        out: list[str] = []
        for line in proc.stdout:  # ends when the process exits, so a failure cannot hang here
            out.append(line)
            if line.startswith("moto is serving AWS on"):
                break
        text = "".join(out)
        match = re.search(r"moto is serving AWS on (http://127\.0\.0\.1:\d+)", text)
        assert match, text + (proc.stderr.read() if proc.stderr else "")
        endpoint = match.group(1)
        assert "created queue tpf-work" in text and "created bucket tpf-release-artifacts" in text
        assert f"pipeline.orchestrator.queue-url={endpoint}/123456789012/tpf-work" in text
        assert f"export PIPELINE_ORCHESTRATOR_SQS_ENDPOINT_OVERRIDE={endpoint}" in text
        sqs = boto3.client(
            "sqs",
            endpoint_url=endpoint,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        assert sqs.get_queue_url(QueueName="tpf-work")["QueueUrl"].endswith("/tpf-work")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0
        assert proc.stdout.read().strip() == "stopped"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
