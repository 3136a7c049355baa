"""The README's "Testing your pipelines" example, as a test; and a check that the README shows
exactly this code (the block between the markers below and the README's ``tpf.testing example``
markers must be equal), so the docs cannot drift from what runs."""

# --- README example: start
from demos.restaurant_approval.pipeline import pipeline
from tpf.records import ExecutionStatus
from tpf.testing import TestEnv

ORDER = {"customerName": "Ada", "restaurantName": "Cafe", "items": "Pizza", "currency": "EUR"}


async def test_restaurant_orders(tmp_path):
    async with TestEnv(pipeline, store="sqlite", tmp_path=tmp_path, retries__max_retries=2) as env:
        accepted, declined, late, flaky = [
            await env.submit({**ORDER, "totalAmount": "9.50", "requestId": f"order-{n}"})
            for n in range(4)
        ]
        env.break_worker(flaky)  # its worker is down when the decision comes in
        for eid, decision in [(accepted, "accepted"), (declined, "declined"), (flaky, "accepted")]:
            [task] = await env.pending(eid)
            order_id = task.request_payload["orderId"]
            await env.complete(task, {decision: {"orderId": order_id}})
        assert (await env.status(accepted)).result_payload["outcome"] == "APPROVED"
        assert (await env.status(declined)).result_payload["outcome"] == "DECLINED"

        await env.advance("PT30M")  # the late order's deadline; the retries' backoff on the way
        assert (await env.status(late)).error_code == "AWAIT_TIMEOUT"
        assert (await env.status(flaky)).status is ExecutionStatus.FAILED
        reasons = [envelope.terminal_reason for envelope in env.dead_letters]
        assert reasons == ["retry_exhausted", "await_timeout"]

        env.repair_worker()
        assert (await env.redrive(flaky)).status is ExecutionStatus.SUCCEEDED


# --- README example: end


def example_source() -> str:
    from pathlib import Path

    text = Path(__file__).read_text()
    start = text.index("\n# --- README example: start\n") + len("\n# --- README example: start\n")
    return text[start : text.index("\n# --- README example: end\n")].strip("\n") + "\n"


def test_the_readme_shows_this_example() -> None:
    import re
    from pathlib import Path

    readme = Path(__file__).resolve().parents[2] / "README.md"
    blocks = re.findall(
        r"<!-- tpf.testing example -->\n```py\n(.*?)```\n<!-- /tpf.testing example -->",
        readme.read_text(),
        flags=re.S,
    )
    assert blocks == [example_source()], "paste readme-parts/testing.md's example as shown"
