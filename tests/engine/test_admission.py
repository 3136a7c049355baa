"""Submit admission (spec §6.3): an execution is accepted only if it can run here.

The lifecycle rules are tested on code the router runs but this coordinator does not announce
(``release_only``): ``Coordinator.host`` would register and heartbeat a healthy record itself
(``test_hosted_workers.py``), hiding the records these tests register by hand.
"""

from __future__ import annotations

import pytest

from tests.engine.harness import ORDER, PIPELINE_ID, TENANT, Harness
from tests.engine.pipelines import flaky_pipeline
from tpf.authoring.pipeline import Pipeline
from tpf.core.errors import Conflict, Unavailable
from tpf.core.records import ExecutionStatus, ReleaseRecord
from tpf.engine.releases import build_release
from tpf.transports.workers.local import LocalTransitionWorker

ITEM = {"value": "x"}


async def release_only(h: Harness, pipeline: Pipeline, *, host: bool = True) -> ReleaseRecord:
    """Register and activate ``pipeline``'s release without a worker lifecycle record."""
    c = h.coordinator
    if host:  # the code runs here, but nothing announces it
        c.router.add(LocalTransitionWorker(pipeline, h.clock))
    descriptor = build_release(pipeline, h.tmp / f"release-{pipeline.pipeline_id}")
    record = await c.register_release(TENANT, pipeline.pipeline_id, str(descriptor))
    return await c.activate_release(TENANT, pipeline.pipeline_id, record.release_version)


async def register(h: Harness, release: ReleaseRecord, **identity: str) -> None:
    await h.coordinator.register_worker(
        TENANT,
        release.pipeline_id,
        "remote-1",
        contract_version=release.contract_version,
        release_version=release.release_version,
        protocol="local",
        **identity,
    )


async def test_no_active_release(h: Harness) -> None:
    with pytest.raises(Conflict) as caught:
        await h.coordinator.submit(TENANT, "org.example.unknown", ITEM)
    assert caught.value.code == "NO_ACTIVE_RELEASE"
    with pytest.raises(Conflict, match="No active release"):
        await h.coordinator.submit("other-tenant", PIPELINE_ID, ORDER)


async def test_active_release_without_a_worker_record(h: Harness) -> None:
    pipeline, _ = flaky_pipeline(0)
    await release_only(h, pipeline)
    with pytest.raises(Unavailable, match="No worker lifecycle record for active release"):
        await h.coordinator.submit(TENANT, pipeline.pipeline_id, ITEM)


async def test_drained_worker_refuses_new_work(h: Harness) -> None:
    c = h.coordinator
    eid = await h.submit()  # cached positive answer...
    drained = await c.drain_worker(TENANT, PIPELINE_ID, "local-1")
    assert drained.state.value == "DRAINING"
    await c.drain_worker(TENANT, PIPELINE_ID, c.hosted.worker_id(h.worker.identity))
    with pytest.raises(Unavailable) as caught:  # ...dropped by the drain at once
        await h.submit({**ORDER, "requestId": "req-2"})
    assert "DRAINING" in caught.value.message
    assert "local-1=DRAINING" in caught.value.message
    # Only new submissions are gated: the pinned execution still completes.
    assert (await h.settle(eid)).status is ExecutionStatus.WAITING_EXTERNAL


async def test_stale_worker_and_heartbeat(h: Harness) -> None:
    c = h.coordinator
    await h.submit()
    h.clock.advance(c.settings.workers.stale_after_ms + 1)  # also past the 1 s admission cache
    with pytest.raises(Unavailable, match="STALE"):
        await h.submit({**ORDER, "requestId": "req-2"})
    beat = await c.heartbeat_worker(TENANT, PIPELINE_ID, "local-1")
    assert beat.state.value == "HEALTHY"
    result = await c.submit(TENANT, PIPELINE_ID, {**ORDER, "requestId": "req-2"})
    assert result.duplicate is False


async def test_admission_caches_positive_answers_briefly(h: Harness) -> None:
    c = h.coordinator
    await h.submit()
    # A staleness change is not an event through this coordinator: the cache may answer for 1 s.
    h.clock.advance(c.settings.workers.stale_after_ms - 500)
    await h.submit({**ORDER, "requestId": "req-2"})
    h.clock.advance(600)  # stale now, but the cached positive answer is still fresh
    await h.submit({**ORDER, "requestId": "req-3"})
    h.clock.advance(1_000)  # cache expired: the stale worker is seen
    with pytest.raises(Unavailable):
        await h.submit({**ORDER, "requestId": "req-4"})


@pytest.mark.parametrize(
    "identity",
    [{"artifact_id": "some-other-artifact"}, {"artifact_digest": "sha256:" + "0" * 64}],
    ids=["artifact-id", "artifact-digest"],
)
async def test_artifact_identity_mismatch(h: Harness, identity: dict[str, str]) -> None:
    pipeline, _ = flaky_pipeline(0)
    release = await release_only(h, pipeline)
    await register(h, release, **identity)
    with pytest.raises(Unavailable, match="artifact identity does not match"):
        await h.coordinator.submit(TENANT, pipeline.pipeline_id, ITEM)


async def test_matching_artifact_identity_is_admitted(h: Harness) -> None:
    pipeline, _ = flaky_pipeline(0)
    release = await release_only(h, pipeline)
    await register(
        h,
        release,
        artifact_id=release.primary_artifact_id,
        artifact_digest=release.primary_artifact_digest,
    )
    result = await h.coordinator.submit(TENANT, pipeline.pipeline_id, ITEM)
    assert (await h.settle(result.execution_id)).status is ExecutionStatus.SUCCEEDED


async def test_code_not_hosted_in_this_process(h: Harness) -> None:
    pipeline, _ = flaky_pipeline(0)
    release = await release_only(h, pipeline, host=False)
    await register(h, release)
    with pytest.raises(Unavailable) as caught:
        await h.coordinator.submit(TENANT, pipeline.pipeline_id, ITEM)
    assert caught.value.code == "NO_WORKER"
    assert "no transition worker in this coordinator hosts" in caught.value.message


async def test_worker_record_for_another_release_does_not_count(h: Harness) -> None:
    pipeline, _ = flaky_pipeline(0)
    release = await release_only(h, pipeline)
    await h.coordinator.register_worker(
        TENANT,
        pipeline.pipeline_id,
        "old-1",
        contract_version=release.contract_version,
        release_version="some-older-release",
        protocol="local",
    )
    with pytest.raises(Unavailable, match="No worker lifecycle record"):
        await h.coordinator.submit(TENANT, pipeline.pipeline_id, ITEM)
