"""AWS at startup, as a user meets it: an endpoint that is not there is one clear error naming
it (not a traceback), and the properties block ``tpf dev aws`` prints runs a coordinator on its
own, credentials included, with no ``AWS_*`` variable set."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from demos.restaurant_approval.server import free_port
from tpf.aws.clients import AwsClients
from tpf.config.settings import (
    AwsSettings,
    DlqSettings,
    DynamoSettings,
    ReleaseSettings,
    S3Settings,
    Settings,
    SqsSettings,
    StateSettings,
    WorkerSettings,
    WorkQueueSettings,
)
from tpf.coordinator import Coordinator
from tpf.core.errors import ConfigError
from tpf.engine.startup_checks import unreachable_endpoints

TPF = str(Path(sys.executable).parent / "tpf")
P = "pipeline.orchestrator."


def clean_env() -> dict[str, str]:
    """No AWS credentials and no configuration from the environment: only the file counts."""
    return {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AWS_", "TPF_", "PIPELINE_ORCHESTRATOR_"))
    }


def closed_endpoint() -> str:
    return f"http://127.0.0.1:{free_port()}"  # nothing listens there once the probe closes


def durable(endpoint: str, tmp_path: Path) -> Settings:
    return Settings(
        state=StateSettings(provider="dynamo", dir=str(tmp_path / "state")),
        releases=ReleaseSettings(registry_provider="dynamo", storage_provider="s3"),
        workers=WorkerSettings(lifecycle_provider="dynamo"),
        work_queue=WorkQueueSettings(provider="sqs"),
        dlq=DlqSettings(provider="sqs"),
        sqs=SqsSettings(
            queue_url=f"{endpoint}/123456789012/tpf-work",
            dlq_url=f"{endpoint}/123456789012/tpf-execution-dlq",
            endpoint_override=endpoint,
        ),
        s3=S3Settings(
            bucket="tpf-release-artifacts", endpoint_override=endpoint, path_style_access=True
        ),
        dynamo=DynamoSettings(endpoint_override=endpoint),
        aws=AwsSettings(access_key_id="testing", secret_access_key="testing"),
    )


async def test_each_unreachable_endpoint_is_named(tmp_path: Path) -> None:
    endpoint = closed_endpoint()
    settings = durable(endpoint, tmp_path)
    aws = AwsClients(settings)
    try:
        found = await unreachable_endpoints(settings, aws)
    finally:
        await aws.close()
    assert [line.split(" endpoint ")[0] for line in found] == [
        "the DynamoDB",
        "the SQS",
        "the S3",
    ]
    for line, key in zip(
        found,
        [
            "dynamo.endpoint-override",
            "sqs.endpoint-override",
            "releases.storage.s3.endpoint-override",
        ],
        strict=True,
    ):
        assert f"endpoint {endpoint} ({P}{key})" in line


async def test_strict_startup_refuses_an_unreachable_endpoint(tmp_path: Path) -> None:
    settings = (durable(closed_endpoint(), tmp_path)).replace(startup__strict=True)
    with pytest.raises(ConfigError, match=r"strict startup: cannot reach the DynamoDB endpoint"):
        await Coordinator.open(settings)


def test_serve_on_an_unreachable_endpoint_is_one_clear_error(tmp_path: Path) -> None:
    endpoint = closed_endpoint()
    config = tmp_path / "aws.properties"
    config.write_text(
        f"{P}state-provider=dynamo\n{P}dynamo.endpoint-override={endpoint}\n"
        f"{P}releases.registry.provider=memory\n{P}worker.lifecycle.provider=memory\n"
        "tpf.aws.access-key-id=testing\ntpf.aws.secret-access-key=testing\n"
    )
    done = subprocess.run(
        [TPF, "serve", "--config", str(config), "--port", "0"],
        cwd=tmp_path,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    [error] = [line for line in done.stderr.splitlines() if "cannot reach" in line]
    assert f"the DynamoDB endpoint {endpoint} ({P}dynamo.endpoint-override)" in error


@pytest.fixture
def dev_aws() -> Iterator[list[str]]:
    """``tpf dev aws`` on a free port (the durable shape): the lines it printed."""
    proc = subprocess.Popen(
        [TPF, "dev", "aws", "--port", "0"],
        env=clean_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        out: list[str] = []
        for line in proc.stdout:  # ends when the process exits, so a failure cannot hang here
            out.append(line.rstrip("\n"))
            if line.startswith("moto is serving AWS on"):
                break
        assert out and out[-1].startswith("moto is serving"), out
        yield out
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_the_printed_properties_block_runs_a_coordinator_on_its_own(
    dev_aws: list[str], tmp_path: Path
) -> None:
    start = dev_aws.index(
        "# properties (save as a .properties file and pass --config / TPF_CONFIG):"
    )
    block = dev_aws[start : dev_aws.index("", start)]
    assert "tpf.aws.access-key-id=testing" in block
    # The environment form says the same; no AWS_* variable is needed any more.
    assert "export TPF_AWS_ACCESS_KEY_ID=testing" in dev_aws
    assert not any(re.match(r"export AWS_", line) for line in dev_aws)
    config = tmp_path / "dev.properties"
    config.write_text("\n".join(block) + "\n")
    env = {**clean_env(), "TPF_STATE_DIR": str(tmp_path / "state")}

    checked = subprocess.run(
        [TPF, "config", "check", "--config", str(config)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert checked.returncode == 0, checked.stderr
    assert "tpf.aws.secret-access-key = <redacted>" in checked.stdout
    assert f"{P}state-provider = dynamo  (in {config})" in checked.stdout

    log = tmp_path / "serve.log"
    with log.open("w") as out:
        serve = subprocess.Popen(
            [TPF, "serve", "--config", str(config), "--port", str(free_port())],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
        )
    try:
        # Strict startup has reached every table, queue and bucket once this line is printed.
        deadline_lines = _wait_for_line(log, "tpf serve: listening on", serve)
        assert "Traceback" not in deadline_lines
    finally:
        serve.send_signal(signal.SIGTERM)
        assert serve.wait(timeout=30) == 0, log.read_text()


def _wait_for_line(log: Path, text: str, process: subprocess.Popen[str]) -> str:
    import time

    deadline = time.monotonic() + 60
    while text not in (content := log.read_text()):
        assert process.poll() is None, content
        assert time.monotonic() < deadline, content
        time.sleep(0.05)  # a child process's output has no event to wait on
    return content
