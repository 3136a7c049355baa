"""The README's Python examples run as written, so the docs cannot drift from the code."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path
from typing import Any

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


async def test_readme_examples_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    assert len(blocks) == 4, "the README's pipeline, step context, coordinator, stream examples"
    monkeypatch.chdir(tmp_path)  # the example keeps its state in ./.tpf
    monkeypatch.delenv("TPF_STATE_DIR", raising=False)
    namespace: dict[str, Any] = {"__name__": "readme_example"}
    exec(compile(blocks[0], "README.md[pipeline]", "exec"), namespace)
    exec(compile(blocks[1], "README.md[context]", "exec"), namespace)
    body = "async def _example():\n" + textwrap.indent(blocks[2], "    ")
    exec(compile(body, "README.md[coordinator]", "exec"), namespace)
    await namespace["_example"]()
    assert (tmp_path / ".tpf" / "tpf.sqlite3").exists()


async def test_readme_context_example_refuses_a_decision_for_another_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The ``ctx: StepContext`` example's pipeline, run: the matching decision succeeds with the
    order read through the context, a decision naming another order fails without retries."""
    from tpf.config import load_settings
    from tpf.coordinator import Coordinator
    from tpf.records import ExecutionStatus
    from tpf.releases import build_release

    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    namespace: dict[str, Any] = {"__name__": "readme_context"}
    exec(compile(blocks[0], "README.md[pipeline]", "exec"), namespace)
    exec(compile(blocks[1], "README.md[context]", "exec"), namespace)
    checked = namespace["checked"]
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("TPF_STATE_DIR", raising=False)
    coordinator = await Coordinator.open(load_settings({}))
    try:
        await coordinator.start()
        worker = coordinator.host(checked)
        descriptor = build_release(checked, tmp_path / "build")
        release = await coordinator.register_release("acme", checked.pipeline_id, str(descriptor))
        await coordinator.activate_release("acme", checked.pipeline_id, release.release_version)
        await coordinator.register_local_worker("acme", worker, "w-1")
        outcomes = {}
        for order_id, answered_for in (("o-1", "o-1"), ("o-2", "someone-else")):
            run = await coordinator.submit(
                "acme", checked.pipeline_id, {"orderId": order_id, "amount": 5}
            )
            await coordinator.wait_for(
                "acme", run.execution_id, [ExecutionStatus.WAITING_EXTERNAL], timeout_s=10
            )
            [task] = [
                t for t in await coordinator.pending("acme") if t.execution_id == run.execution_id
            ]
            await coordinator.complete(
                "acme",
                interaction_id=task.interaction_id,
                response={"orderId": answered_for, "approved": True},
            )
            done = await coordinator.wait_for(
                "acme",
                run.execution_id,
                [ExecutionStatus.SUCCEEDED, ExecutionStatus.FAILED, ExecutionStatus.DLQ],
                timeout_s=10,
            )
            outcomes[order_id] = done
    finally:
        await coordinator.close()
    assert outcomes["o-1"].status is ExecutionStatus.SUCCEEDED
    assert outcomes["o-1"].result_payload == {"orderId": "o-1", "status": "APPROVED"}
    refused = outcomes["o-2"]
    assert refused.status in (ExecutionStatus.FAILED, ExecutionStatus.DLQ)
    assert refused.attempt == 0  # non-retryable: no second attempt
    assert "decision is for someone-else, not o-2" in (refused.error_message or "")


async def test_readme_stream_example_runs_per_item_awaits_into_one_report(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The streams example's pipeline, run: one interaction per line, each answer takes its
    branch, and the report gathers them in line order."""
    from tpf.config import load_settings
    from tpf.coordinator import Coordinator
    from tpf.records import ExecutionStatus
    from tpf.releases import build_release

    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    namespace: dict[str, Any] = {"__name__": "readme_streams"}
    # As its own module would: without this file's ``from __future__ import annotations``.
    exec(compile(blocks[3], "README.md[streams]", "exec", dont_inherit=True), namespace)
    review = namespace["review"]
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("TPF_STATE_DIR", raising=False)
    coordinator = await Coordinator.open(load_settings({}))
    try:
        await coordinator.start()
        coordinator.host(review)
        descriptor = build_release(review, tmp_path / "build")
        release = await coordinator.register_release("acme", review.pipeline_id, str(descriptor))
        await coordinator.activate_release("acme", review.pipeline_id, release.release_version)
        run = await coordinator.submit("acme", review.pipeline_id, {"lines": ["a", "b", "c"]})
        await coordinator.engine.streams.wait_for(
            "acme", run.execution_id, lambda p: p.in_flight == 3, 10
        )
        tasks = [t for t in await coordinator.pending("acme") if t.execution_id == run.execution_id]
        assert sorted(t.item_index for t in tasks) == [0, 1, 2]
        for task in tasks:
            text = task.request_payload["text"]
            answer = (
                {"rejected": {"reason": "typo"}} if text == "b" else {"approved": {"text": text}}
            )
            await coordinator.complete("acme", interaction_id=task.interaction_id, response=answer)
        done = await coordinator.wait_for(
            "acme", run.execution_id, [ExecutionStatus.SUCCEEDED], timeout_s=10
        )
    finally:
        await coordinator.close()
    assert done.result_payload == {"kept": ["a", "c"], "dropped": 1}
