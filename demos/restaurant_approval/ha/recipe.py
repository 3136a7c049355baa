"""The self-hosted recipe's configuration blocks, and the files the HA demos write from them.

:data:`RECIPE_MINIMUM` is the recipe's "Minimum coordinator configuration", verbatim (the recipe
runs its last line into the following prose; the block ends at ``PT2M``). The tests that load the
recipe take it from here too (``tests/recipe.py``). :func:`coordinator_properties` is that block
with the recipe's REST worker selection lines pointed at a worker on this machine, the local
endpoint's overrides, and the few values a demo changes (each one listed, so the demo can say
what differs from the recipe and why).
"""

from __future__ import annotations

from collections.abc import Mapping

P = "pipeline.orchestrator."

RECIPE_MINIMUM = """\
pipeline.orchestrator.mode=QUEUE_ASYNC
pipeline.orchestrator.strict-startup=true
pipeline.orchestrator.idempotency-policy=CLIENT_KEY_REQUIRED
pipeline.orchestrator.execution-ttl-days=7
pipeline.orchestrator.lease-ms=30000
pipeline.orchestrator.max-retries=3
pipeline.orchestrator.retry-delay=PT10S
pipeline.orchestrator.retry-multiplier=2.0
pipeline.orchestrator.sweep-interval=PT30S
pipeline.orchestrator.sweep-limit=100
pipeline.orchestrator.state-provider=dynamo
pipeline.orchestrator.dispatcher-provider=sqs
pipeline.orchestrator.dlq-provider=sqs
pipeline.orchestrator.queue-url=https://sqs.eu-west-1.amazonaws.com/123456789012/tpf-work
pipeline.orchestrator.dlq-url=https://sqs.eu-west-1.amazonaws.com/123456789012/tpf-execution-dlq
pipeline.orchestrator.dynamo.execution-table=tpf_execution
pipeline.orchestrator.dynamo.execution-key-table=tpf_execution_key
pipeline.orchestrator.dynamo.await-interaction-table=tpf_await_interaction
pipeline.orchestrator.dynamo.await-interaction-key-table=tpf_await_interaction_key
pipeline.orchestrator.dynamo.release-table=tpf_release_registry
pipeline.orchestrator.dynamo.worker-table=tpf_worker_registry
pipeline.orchestrator.dynamo.region=eu-west-1
pipeline.orchestrator.sqs.region=eu-west-1
pipeline.orchestrator.control-plane.enabled=true
pipeline.orchestrator.control-plane.admin-token-ref=env:TPF_CONTROL_PLANE_TOKEN
pipeline.orchestrator.control-plane.require-remote-worker=true
pipeline.orchestrator.admin.enabled=true
pipeline.orchestrator.admin.admin-token-ref=env:TPF_ADMIN_TOKEN
pipeline.orchestrator.releases.registry.provider=dynamo
pipeline.orchestrator.releases.storage.provider=s3
pipeline.orchestrator.releases.storage.s3.bucket=tpf-release-artifacts
pipeline.orchestrator.releases.storage.s3.prefix=tpf/releases
pipeline.orchestrator.releases.storage.s3.region=eu-west-1
pipeline.orchestrator.worker.lifecycle.provider=dynamo
pipeline.orchestrator.worker.lifecycle.stale-after=PT2M
"""

# The recipe's "REST worker selection example" (its two coordinator lines). The minimum block
# sets control-plane.require-remote-worker=true, which refuses to start without a remote worker
# target (spec §6.4), so a coordinator runs the two blocks together.
RECIPE_REST_WORKER = """\
pipeline.orchestrator.worker.rest.base-url=http://restaurant-worker:8181
pipeline.orchestrator.worker.rest.shared-secret-ref=env:TPF_WORKER_SECRET
"""

# The recipe's "Worker process example".
RECIPE_WORKER_PROCESS = """\
pipeline.orchestrator.worker.rest.server-enabled=true
pipeline.orchestrator.worker.rest.shared-secret-ref=env:TPF_WORKER_SECRET
"""

# What the HA demos change in the recipe's block, and why (printed by the demos).
DEMO_CHANGES: dict[str, tuple[str, str]] = {
    P + "retry-delay": ("PT1S", "as the original's container demo: a retry after 1 s, not 10 s"),
    P + "sqs.local-loopback": ("false", "as the original's container demo: work goes over SQS"),
}


def endpoint_overrides(endpoint: str) -> dict[str, str]:
    """The only lines a local endpoint needs on top of an AWS configuration (path-style S3: the
    recipe prescribes it for non-AWS S3-compatible stores)."""
    return {
        P + "dynamo.endpoint-override": endpoint,
        P + "sqs.endpoint-override": endpoint,
        P + "releases.storage.s3.endpoint-override": endpoint,
        P + "releases.storage.s3.path-style-access": "true",
    }


def with_values(block: str, values: Mapping[str, str]) -> str:
    """``block`` with the lines of ``values``' keys replaced in place and the other keys
    appended, so each key is set once and the recipe's order is kept."""
    pending = dict(values)
    lines = []
    for line in block.splitlines():
        key = line.partition("=")[0].strip()
        lines.append(f"{key}={pending.pop(key)}" if key in pending else line)
    lines += [f"{key}={value}" for key, value in pending.items()]
    return "\n".join(lines) + "\n"


def coordinator_properties(
    endpoint: str, worker_url: str, extra: Mapping[str, str] | None = None
) -> str:
    """The coordinator's file: the recipe's minimum block and REST worker lines, its worker at
    ``worker_url``, AWS at ``endpoint``, with :data:`DEMO_CHANGES` and ``extra`` applied."""
    values = {
        P + "worker.rest.base-url": worker_url,
        **{key: value for key, (value, _why) in DEMO_CHANGES.items()},
        **endpoint_overrides(endpoint),
        **(extra or {}),
    }
    return with_values(RECIPE_MINIMUM + RECIPE_REST_WORKER, values)


def worker_properties(extra: Mapping[str, str] | None = None) -> str:
    """A REST worker's file: the recipe's worker process lines (and ``extra``)."""
    return with_values(RECIPE_WORKER_PROCESS, extra or {})
