"""A park and a resume on DynamoDB each commit the execution and its interaction in one
``TransactWriteItems`` (tpf.stores.dynamo.await_commits), and the completion of an interaction
this coordinator just parked on makes no read before its conditional write: counted on the
coordinator's own client, on moto, for one restaurant execution. When a condition fails the
joint write writes nothing, and the general path decides."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from msgspec.structs import replace

from bench.ha import ha_settings
from bench.workload import TENANT, one_execution, order, release_restaurant
from demos.restaurant_approval.pipeline import PIPELINE_ID
from tests.aws import reset_moto
from tests.aws_calls import CallLog
from tpf.aws.bootstrap import bootstrap_aws
from tpf.aws.clients import AwsClients
from tpf.coordinator import Coordinator
from tpf.core import interactions as inter
from tpf.core.records import ExecutionStatus


def tables(params: dict[str, Any]) -> list[tuple[str, str]]:
    """(action, key attribute naming the item kind) of each item of a transaction."""
    out = []
    for action in params["TransactItems"]:
        (kind, body), *_ = action.items()
        item = body.get("Item") or body.get("Key") or {}
        out.append((kind, "interaction" if "interaction_id" in item else "other"))
    return out


async def open_coordinator(endpoint: str, root: Path) -> Coordinator:
    reset_moto(endpoint)
    settings = ha_settings(endpoint, root)
    bootstrap = AwsClients(settings)
    await bootstrap_aws(settings, bootstrap)
    await bootstrap.close()
    coordinator = await Coordinator.open(settings)
    await coordinator.start()
    await release_restaurant(coordinator, root / "build")
    return coordinator


async def test_park_and_resume_write_the_interaction_in_the_executions_transaction(
    moto_endpoint: str, tmp_path: Path
) -> None:
    coordinator = await open_coordinator(moto_endpoint, tmp_path)
    try:
        await one_execution(coordinator, 0)  # warm: admission and worker caches
        calls = CallLog().attach(await coordinator.aws.client("dynamodb"))  # type: ignore[union-attr]
        await one_execution(coordinator, 1)
    finally:
        await coordinator.close()
    on_interactions = [
        op for op, p in calls.params if op != "TransactWriteItems" and "interaction_id" in str(p)
    ]
    # The client's own read of the task, then the completion's conditional put: no read-back
    # after the park, no lookup before the completion, no separate mark-applied put.
    assert on_interactions == ["GetItem", "PutItem"], on_interactions
    transactions = [tables(p) for p in calls.sent("TransactWriteItems")]
    assert len(transactions) == 4  # submit, park, resume, finish
    park, resume = transactions[1], transactions[2]
    assert park[:2] == [("Put", "interaction"), ("Put", "interaction")]  # item, correlation
    assert ("Put", "other") in park[2:]  # the WAITING_EXTERNAL execution
    assert resume[0] == ("Put", "interaction") and ("Put", "other") in resume[1:]


async def test_a_joint_write_whose_condition_fails_writes_nothing(
    moto_endpoint: str, tmp_path: Path
) -> None:
    coordinator = await open_coordinator(moto_endpoint, tmp_path)
    try:
        joint = coordinator.stores.await_commits
        assert joint is not None
        submitted = await coordinator.submit(TENANT, PIPELINE_ID, order(1))
        parked = await coordinator.wait_for(
            TENANT, submitted.execution_id, (ExecutionStatus.WAITING_EXTERNAL,), timeout_s=30
        )
        assert parked.await_interaction_id is not None
        interaction = await coordinator.interaction(TENANT, parked.await_interaction_id)
        again = replace(parked, version=parked.version + 1)
        # The interaction exists (a re-run's park): refused, the execution untouched.
        assert await joint.park(again, parked.version, interaction) is None
        # The interaction is not at that version: refused too.
        applied = inter.mark_applied(interaction, coordinator.clock.now_ms())
        assert await joint.resume(again, parked.version, applied, interaction.version + 5) is None
        assert (await coordinator.status(TENANT, parked.execution_id)).version == parked.version
        current = await coordinator.interaction(TENANT, interaction.interaction_id)
        assert current.version == interaction.version and not current.applied
    finally:
        await coordinator.close()


async def test_a_completion_on_a_stale_parked_copy_reads_again_and_completes(
    moto_endpoint: str, tmp_path: Path
) -> None:
    coordinator = await open_coordinator(moto_endpoint, tmp_path)
    try:
        submitted = await coordinator.submit(TENANT, PIPELINE_ID, order(2))
        parked = await coordinator.wait_for(
            TENANT, submitted.execution_id, (ExecutionStatus.WAITING_EXTERNAL,), timeout_s=30
        )
        assert parked.await_interaction_id is not None
        task = await coordinator.interaction(TENANT, parked.await_interaction_id)
        # Another writer changes the interaction behind this coordinator's parked copy.
        bumped = replace(task, version=task.version + 1, assignee="someone-else")
        assert await coordinator.stores.awaits.compare_and_set(bumped, task.version) is not None
        calls = CallLog().attach(await coordinator.aws.client("dynamodb"))  # type: ignore[union-attr]
        await coordinator.complete(
            TENANT,
            interaction_id=task.interaction_id,
            response={"accepted": {"orderId": task.request_payload["orderId"]}},
        )
        done = await coordinator.wait_for(
            TENANT, parked.execution_id, (ExecutionStatus.SUCCEEDED,), timeout_s=30
        )
        assert done.status is ExecutionStatus.SUCCEEDED
        # The copy's write failed on its version, the read found the current one, which won.
        puts = [p for p in calls.sent("PutItem") if "interaction_id" in p["Item"]]
        assert [p["Item"]["version"]["N"] for p in puts[:2]] == [
            str(task.version + 1),
            str(task.version + 2),
        ]
        current = await coordinator.interaction(TENANT, task.interaction_id)
        assert current.assignee == "someone-else" and current.applied
    finally:
        await coordinator.close()
