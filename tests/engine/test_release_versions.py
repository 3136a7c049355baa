"""Two releases of one pipeline hosted side by side: code, not only the contract, is pinned.

The two versions are modules with the same pipeline id and contract (stable type ids) whose
finish steps differ only in their body. Before releases versioned code both were the same
release, so hosting the second replaced the first and old executions ran the new code.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.code_modules import ORDERS_ID, ModuleLoader, module_loader, write_orders
from tests.engine.harness import TENANT, Harness
from tpf.core.errors import Unavailable
from tpf.core.records import ExecutionStatus
from tpf.engine.releases import build_release

DONE = (ExecutionStatus.SUCCEEDED, ExecutionStatus.FAILED, ExecutionStatus.DLQ)
APPROVED = {"approved": True}


@pytest.fixture
def modules(monkeypatch: pytest.MonkeyPatch) -> Iterator[ModuleLoader]:
    yield from module_loader(monkeypatch)


async def test_old_executions_finish_on_old_code_after_the_new_release_is_activated(
    h: Harness, tmp_path: Path, modules: ModuleLoader
) -> None:
    c = h.coordinator
    write_orders(tmp_path / "code", "orders_v1", marker="v1")
    write_orders(tmp_path / "code", "orders_v2", marker="v2")
    v1 = modules.pipeline(tmp_path / "code", "orders_v1")
    v2 = modules.pipeline(tmp_path / "code", "orders_v2")
    assert v1.contract().contract_version == v2.contract().contract_version

    old = await h.release(v1, worker_id="orders-v1")
    a = await c.submit(TENANT, ORDERS_ID, {"value": "a"})
    assert (await h.settle(a.execution_id)).status is ExecutionStatus.WAITING_EXTERNAL

    new = await h.release(v2, worker_id="orders-v2")  # deploy, register, activate the new code
    assert old.identity[:2] == new.identity[:2] and old.identity != new.identity
    assert c.router.get(old.identity) is old and c.router.get(new.identity) is new
    b = await c.submit(TENANT, ORDERS_ID, {"value": "b"})
    assert (await h.settle(b.execution_id)).status is ExecutionStatus.WAITING_EXTERNAL
    assert a.record.release_version == old.identity[2]
    assert b.record.release_version == new.identity[2]

    for run in (a, b):
        interaction = await h.pending_for(run.execution_id)
        await c.complete(TENANT, interaction_id=interaction.interaction_id, response=APPROVED)
    final_a = await h.settle(a.execution_id, DONE)
    final_b = await h.settle(b.execution_id, DONE)
    assert final_a.result_payload == {"value": "approved", "marker": "v1"}  # drained on v1
    assert final_b.result_payload == {"value": "approved", "marker": "v2"}
    assert final_a.release_version == old.identity[2]


async def test_code_hosted_as_a_release_built_from_other_code_admits_nothing(
    h: Harness, tmp_path: Path, modules: ModuleLoader
) -> None:
    c = h.coordinator
    write_orders(tmp_path / "code", "orders_v1", marker="v1")
    write_orders(tmp_path / "code", "orders_v2", marker="v2")
    v1 = modules.pipeline(tmp_path / "code", "orders_v1")
    v2 = modules.pipeline(tmp_path / "code", "orders_v2")
    descriptor = build_release(v1, tmp_path / "r1", release_version="r1")
    await c.register_release(TENANT, ORDERS_ID, str(descriptor))
    await c.activate_release(TENANT, ORDERS_ID, "r1")
    # The operator deployed the wrong code under r1 (tpf serve --pipeline orders_v2:pipeline@r1).
    wrong = c.host(v2, release_version="r1")
    await c.register_local_worker(TENANT, wrong, "orders-r1")
    refused = r"release r1 of pipeline test\.orders was built from code sha256:"
    with pytest.raises(Unavailable, match=refused):
        await c.submit(TENANT, ORDERS_ID, {"value": "a"})
    right = c.host(v1, release_version="r1")
    assert right.identity == wrong.identity == (ORDERS_ID, v1.contract().contract_version, "r1")
    accepted = await c.submit(TENANT, ORDERS_ID, {"value": "a"})
    assert accepted.record.release_version == "r1"


async def test_a_release_versioned_as_its_contract_runs_on_code_hosted_as_that_version(
    h: Harness, tmp_path: Path, modules: ModuleLoader
) -> None:
    """The original's scripts release a build as ``releaseVersion = contractVersion`` in a
    descriptor that states no code digest: hosting the code as that version serves it."""
    c = h.coordinator
    write_orders(tmp_path / "code", "orders_v1", marker="v1")
    v1 = modules.pipeline(tmp_path / "code", "orders_v1")
    contract_version = v1.contract().contract_version
    path = build_release(v1, tmp_path / "original", release_version=contract_version)
    descriptor = json.loads(path.read_text())
    del descriptor["artifacts"][0]["codeDigest"]  # the original's descriptors have none
    path.write_text(json.dumps(descriptor))
    await c.register_release(TENANT, ORDERS_ID, str(path))
    await c.activate_release(TENANT, ORDERS_ID, contract_version)
    worker = c.host(v1, release_version=contract_version)  # --pipeline orders_v1:pipeline@CV
    await c.register_local_worker(TENANT, worker, "orders-local")
    run = await c.submit(TENANT, ORDERS_ID, {"value": "a"})
    assert run.record.release_version == run.record.contract_version == contract_version
    assert (await h.settle(run.execution_id)).status is ExecutionStatus.WAITING_EXTERNAL
