"""The self-hosted recipe's configuration, shared by the tests that load it."""

# The "Minimum coordinator configuration" block of
# shared/reference/self-hosted-deployment-recipe.txt, verbatim (its last line runs into the
# following prose there; the block ends at PT2M).
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
WORKER_SECRET_ENV = {"TPF_WORKER_SECRET": "recipe-worker-secret"}
