"""The recipe's "Minimum coordinator configuration", saved as a file, starts a coordinator.

The block below is copied verbatim from ``self-hosted-deployment-recipe.txt`` (the file runs its
last line into the next paragraph's prose; the block ends at ``PT2M``). The only lines added
are the recipe's own REST worker selection example (``require-remote-worker=true`` refuses to
start without a remote worker target) and the endpoint overrides of a local endpoint
(:func:`endpoint_overrides`): DynamoDB, SQS and S3 ``endpoint-override`` plus
``releases.storage.s3.path-style-access=true``, which the recipe itself prescribes for "non-AWS
S3-compatible stores" (moto serves no virtual-hosted buckets).

The queue and DLQ URLs stay the recipe's ``https://sqs.eu-west-1.amazonaws.com/123456789012/...``:
with ``sqs.endpoint-override`` every SQS call goes to moto, which finds a queue by the name in
the ``QueueUrl`` (its last path component) in the region the request is signed for
(``sqs.region=eu-west-1``), and 123456789012 is the account moto serves. So no line of the
block is changed; the regions stay eu-west-1 as well (moto keeps one backend per region, and
``tpf bootstrap aws`` creates everything in the regions the block names).

``control-plane.require-remote-worker=true`` forbids hosting code, so ``tpf serve`` runs
without ``--pipeline``.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.ha.cluster import ROOT, Node, bootstrap, child_env, endpoint_overrides, free_port, tpf
from tests.recipe import RECIPE_MINIMUM, RECIPE_REST_WORKER
from tpf.client.rest import ApiError

pytestmark = pytest.mark.ha


def recipe_file(tmp_path: Path, endpoint: str) -> Path:
    config = tmp_path / "coordinator.properties"
    config.write_text(RECIPE_MINIMUM + RECIPE_REST_WORKER + endpoint_overrides(endpoint))
    return config


def test_recipe_block_starts_unchanged(ha_endpoint: str, tmp_path: Path) -> None:
    config = recipe_file(tmp_path, ha_endpoint)
    created = bootstrap(config, ha_endpoint).stdout
    for name in ("tpf-work", "tpf-execution-dlq", "tpf-release-artifacts", "tpf_execution"):
        assert name in created, created
    node = Node("recipe", config, tmp_path / "recipe.log")
    node.launch()
    try:
        node.wait_ready()
        # The API answers from the Dynamo release registry: nothing is active yet.
        with pytest.raises(ApiError) as missing:
            node.client().active_release("org.pipelineframework.restaurantapproval")
        assert missing.value.status == 404, missing.value
        assert node.client().list_workers("org.pipelineframework.restaurantapproval") == []
    finally:
        node.stop()
    assert node.process is not None and node.process.returncode == 0, node.log()


def test_recipe_block_without_bootstrap_names_what_is_missing(
    ha_endpoint: str, tmp_path: Path
) -> None:
    config = recipe_file(tmp_path, ha_endpoint)
    done = subprocess.run(
        tpf("serve", "--config", str(config), "--port", str(free_port())),
        cwd=ROOT,
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2, done.stdout + done.stderr
    message = done.stderr
    assert "strict startup: missing AWS resources" in message, message
    for name in (
        "tpf_execution",
        "tpf_await_interaction",
        "tpf_release_registry",
        "tpf_worker_registry",
        "queue tpf-work",
        "queue tpf-execution-dlq",
        "bucket tpf-release-artifacts",
    ):
        assert name in message, f"{name} not named in:\n{message}"
