"""``worker.artifact-id`` / ``worker.artifact-digest``: the artifact identity a hosted worker
advertises when it registers, checked by admission against the active release."""

from __future__ import annotations

import pytest

from tests.engine.conftest import HarnessFactory
from tests.engine.harness import ORDER, PIPELINE_ID, TENANT
from tpf.core.errors import Unavailable


@pytest.mark.parametrize(
    "identity",
    [
        {"workers__artifact_id": "another-build"},
        {"workers__artifact_digest": "sha256:" + "0" * 64},
    ],
    ids=["artifact-id", "artifact-digest"],
)
async def test_a_configured_identity_that_differs_from_the_release_is_refused(
    build: HarnessFactory, identity: dict[str, str]
) -> None:
    h = await build(**identity)
    # The harness's hand-registered record and the coordinator's own one for the hosted code.
    records = await h.coordinator.list_workers(TENANT, PIPELINE_ID)
    assert len(records) == 2
    for record in records:
        advertised = {"workers__artifact_id": record.artifact_id}
        advertised["workers__artifact_digest"] = record.artifact_digest
        for name, value in identity.items():
            assert advertised[name] == value
    with pytest.raises(Unavailable, match="artifact identity does not match"):
        await h.submit()


async def test_without_configuration_the_release_identity_is_advertised(
    build: HarnessFactory,
) -> None:
    h = await build()
    records = await h.coordinator.list_workers(TENANT, PIPELINE_ID)
    release = await h.coordinator.active_release(TENANT, PIPELINE_ID)
    assert len(records) == 2  # the harness's and the coordinator's own
    for record in records:
        assert (record.artifact_id, record.artifact_digest) == (
            release.primary_artifact_id,
            release.primary_artifact_digest,
        )
    assert (await h.coordinator.submit(TENANT, PIPELINE_ID, ORDER)).duplicate is False
