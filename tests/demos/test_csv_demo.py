"""The csv-payments demo: its pure parts (input, idempotency key, output check, the provider's
decisions, pacing and Kafka offsets, the window sampler, the histogram reading) without I/O or
sleeping, one round trip of the provider over a real SQS (moto's server), and ``make demo-csv``
end to end on each lane (its own moto, Tansu, coordinator, REST worker and provider
processes), as the Makefile runs it, with 12 records and no provider delay."""

from __future__ import annotations

import asyncio
import csv
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from aiobotocore.session import get_session

from demos.csv_payments import answers, flow
from demos.csv_payments.answers import decide, parse_request
from demos.csv_payments.pacing import (
    BURST_INTERVAL_S,
    BURST_SIZE,
    SLOW_INTERVAL_S,
    Gate,
    OffsetTracker,
    Pacer,
)
from demos.csv_payments.pipeline import OUTPUT_HEADER, PIPELINE_ID
from demos.csv_payments.provider import SqsProvider
from demos.restaurant_approval.responder import DispatchError
from tests.kafka_broker import unique

ROOT = Path(__file__).resolve().parents[2]


def record(csv_id: str = "1") -> dict[str, Any]:
    return {
        "csvPaymentsInputFilePath": "/data/payments_12.csv",
        "csvId": csv_id,
        "recipient": "Ada Lovelace",
        "amount": "12.34",
        "currency": "EUR",
    }


def dispatch_body(csv_id: str = "1", **overrides: Any) -> dict[str, Any]:
    body = {
        "tenantId": "csv-demo",
        "executionId": "exec-1",
        "interactionId": f"int-{csv_id}",
        "correlationId": f"corr-{csv_id}",
        "stepId": "Await Payment Provider",
        "deadlineEpochMs": 1_760_000_300_000,
        "inputType": "org.pipelineframework.csv.domain.PaymentRecord",
        "outputType": "org.pipelineframework.csv.domain.PaymentStatus",
        "resumeToken": None,
        "requestPayload": record(csv_id),
        "transportMetadata": {"adapter": "sqs"},
    }
    body.update(overrides)
    return body


# ------------------------------------------------------------------------ input and key


def test_the_input_has_the_originals_header_and_n_rows(tmp_path: Path) -> None:
    path = flow.write_input(tmp_path / "in", 12)
    assert path.name == "payments_12.csv" and path.is_absolute()
    with path.open(newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["ID", "Recipient", "Amount", "Currency"]
    assert [r[0] for r in rows[1:]] == [str(i) for i in range(1, 13)]
    assert flow.rows(3) == flow.rows(3)  # deterministic


def test_the_idempotency_key_follows_the_originals_rule(tmp_path: Path) -> None:
    path = flow.write_input(tmp_path, 5)
    content = path.read_bytes()
    material = (
        f"{PIPELINE_ID}|{path}|{path.name}:{len(content)}:{hashlib.sha256(content).hexdigest()}"
    )
    expected = "csv-" + hashlib.sha256(material.encode()).hexdigest()[:24]
    assert flow.idempotency_key(path) == expected
    assert flow.idempotency_key(path) == expected  # the same file: the same execution
    path.write_text(path.read_text() + "6,Grace Hopper,1.00,EUR\n")
    assert flow.idempotency_key(path) != expected  # other content: another execution


def _write_output(input_path: Path, rows: list[tuple[str, ...]]) -> None:
    with open(f"{input_path}.out", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(OUTPUT_HEADER)
        writer.writerows(rows)


def test_check_output_counts_rows_in_file_order(tmp_path: Path) -> None:
    path = flow.write_input(tmp_path, 3)
    good = [
        ("1", "a", "1", "EUR", "APPROVED", "PAY-1"),
        ("2", "b", "2", "USD", "UNAPPROVED", "declined"),
        ("3", "c", "3", "GBP", "APPROVED", "PAY-3"),
    ]
    _write_output(path, good)
    assert flow.check_output(path, 3) == flow.OutputSummary(rows=3, approved=2, unapproved=1)
    with pytest.raises(flow.CheckFailed, match="has 3 data row"):
        flow.check_output(path, 4)
    _write_output(path, [good[1], good[0], good[2]])
    with pytest.raises(flow.CheckFailed, match="file order"):
        flow.check_output(path, 3)
    with pytest.raises(flow.CheckFailed, match="was not written"):
        flow.check_output(tmp_path / "other.csv", 3)


# ------------------------------------------------------------------------ the provider


def test_the_provider_declines_ids_ending_in_7_and_approves_the_rest() -> None:
    approved = decide(record("1"))
    assert approved == {
        "approved": {
            "csvId": "1",
            "recipient": "Ada Lovelace",
            "amount": "12.34",
            "currency": "EUR",
            "reference": answers.reference_of(record("1")),
        }
    }
    assert decide(record("1")) == approved  # deterministic: a re-sent answer is a duplicate
    assert decide(record("17")) == {
        "unapproved": {
            "csvId": "17",
            "recipient": "Ada Lovelace",
            "amount": "12.34",
            "currency": "EUR",
            "reason": answers.DECLINE_REASON,
        }
    }
    declined = sum(answers.declines(str(i)) for i in range(1, 1001))
    assert declined == 100
    assert 50 <= sum(answers.declines(f"id-{i}") for i in range(1000)) <= 150


def test_answers_decode_as_the_awaits_output_type() -> None:
    import msgspec

    from demos.csv_payments.pipeline import PaymentStatus

    for csv_id in ("1", "7"):
        status = msgspec.json.decode(json.dumps(decide(record(csv_id))), type=PaymentStatus)
        assert (status.approved is None) != (status.unapproved is None)


def test_the_completion_envelope_echoes_the_dispatch() -> None:
    dispatch = parse_request(json.dumps(dispatch_body("7")))
    envelope = answers.answer(dispatch)
    assert list(envelope) == [
        "tenantId",
        "interactionId",
        "correlationId",
        "resumeToken",
        "idempotencyKey",
        "responsePayload",
        "actor",
    ]
    assert envelope["interactionId"] == "int-7" and envelope["actor"] == answers.ACTOR
    assert "unapproved" in envelope["responsePayload"]
    by_correlation = answers.answer(dispatch, "correlationId")
    assert by_correlation["interactionId"] is None
    assert by_correlation["correlationId"] == "corr-7"


def test_a_request_without_a_csv_id_is_refused_by_name() -> None:
    with pytest.raises(DispatchError, match=r"requestPayload\.csvId is required"):
        parse_request(json.dumps(dispatch_body(requestPayload={"orderId": "x"})))


def test_pacing_none_releases_at_once() -> None:
    assert Pacer("none").schedule(3, 10.0) == [10.0, 10.0, 10.0]


def test_pacing_slow_spaces_completions_25_ms_apart_across_batches() -> None:
    pacer = Pacer("slow")
    first = pacer.schedule(3, 10.0)
    assert first == pytest.approx([10.0, 10.0 + SLOW_INTERVAL_S, 10.0 + 2 * SLOW_INTERVAL_S])
    # A batch ready meanwhile queues behind the first one's slots.
    assert pacer.schedule(1, 10.01) == pytest.approx([10.0 + 3 * SLOW_INTERVAL_S])
    assert pacer.schedule(1, 20.0) == [20.0]  # idle since: at once


def test_pacing_burst_flushes_at_most_25_per_quarter_second() -> None:
    pacer = Pacer("burst")
    times = pacer.schedule(30, 10.1)
    ticks = sorted(set(times))
    assert ticks == pytest.approx([10.25, 10.5])
    assert times.count(ticks[0]) == BURST_SIZE and times.count(ticks[1]) == 5
    later = pacer.schedule(25, 10.3)  # the 10.5 tick has 20 seats left
    assert later.count(pytest.approx(10.5)) == 20
    assert later.count(pytest.approx(10.5 + BURST_INTERVAL_S)) == 5


def test_unknown_profile_is_refused() -> None:
    with pytest.raises(ValueError, match="admission profile"):
        Pacer("fast")


async def test_the_gate_groups_by_release_time_without_sleeping_when_due() -> None:
    gate = Gate(delay_s=3.0, pacer=Pacer("burst"), now=lambda: 1_000.0)
    groups = [group async for group in gate.groups(list(range(30)), 10.0)]
    assert [len(g) for g in groups] == [25, 5]
    assert groups[0] == list(range(25))


def test_offsets_commit_only_up_to_the_first_unanswered_request() -> None:
    tracker = OffsetTracker()
    for offset in (0, 1, 2, 3):
        tracker.taken("p0", offset)
    tracker.taken("p1", 10)
    tracker.answered("p0", 0)
    tracker.answered("p0", 2)  # out of order: 1 is still open
    assert tracker.committable() == {"p0": 1, "p1": 10}
    tracker.mark_committed({"p0": 1, "p1": 10})
    assert tracker.committable() == {}
    tracker.answered("p0", 1)
    tracker.answered("p0", 3)
    tracker.answered("p1", 10)
    assert tracker.committable() == {"p0": 4, "p1": 11}


# ------------------------------------------------------------------------ sampling, metrics


def test_the_sampler_remembers_the_peak_and_fails_above_the_window() -> None:
    values = iter([3, 25, None, 7])
    sampler = flow.WindowSampler(lambda: next(values))
    for _ in range(4):
        sampler.sample()
    assert (sampler.peak, sampler.samples) == (25, 3)
    sampler.check(25)

    def broken() -> int:
        raise OSError("connection refused")

    failing = flow.WindowSampler(broken)
    failing.sample()
    assert failing.errors == ["OSError: connection refused"] and failing.samples == 0
    over = flow.WindowSampler(lambda: 26)
    over.sample()
    with pytest.raises(flow.CheckFailed, match="reached 26, more than the window of 25"):
        over.check(25)


def test_in_flight_reads_the_status_items() -> None:
    assert flow.in_flight_of({"items": {"inFlight": 4}}) == 4
    assert flow.in_flight_of({"status": "RUNNING"}) is None


def test_histogram_quantile_reads_the_bucket_bound() -> None:
    name = "tpf_stream_item_apply_latency"
    text = "\n".join(
        [
            f"# TYPE {name} histogram",
            f'{name}_bucket{{le="0.005"}} 50.0',
            f'{name}_bucket{{le="0.01"}} 98.0',
            f'{name}_bucket{{le="0.025"}} 100.0',
            f'{name}_bucket{{le="+Inf"}} 100.0',
            f"{name}_count 100.0",
        ]
    )
    assert flow.histogram_quantile(text, name, 0.5) == 0.005
    assert flow.histogram_quantile(text, name, 0.99) == 0.025
    assert flow.histogram_quantile("", name, 0.99) is None


def test_peak_rss_of_this_process() -> None:
    rss = flow.peak_rss_mb(os.getpid())
    assert rss is not None and rss > 1


# ------------------------------------------------------------------------ over a real SQS


async def test_sqs_provider_answers_a_batch_and_deletes_it(moto_endpoint: str) -> None:
    async with get_session().create_client(
        "sqs", endpoint_url=moto_endpoint, region_name="us-east-1"
    ) as sqs:
        request_url, response_url = [
            (await sqs.create_queue(QueueName=unique(name)))["QueueUrl"]
            for name in ("csv-requests", "csv-results")
        ]
        await sqs.send_message_batch(
            QueueUrl=request_url,
            Entries=[
                {"Id": str(i), "MessageBody": json.dumps(dispatch_body(str(i)))} for i in (1, 7)
            ]
            + [{"Id": "bad", "MessageBody": "{not a dispatch"}],
        )
        published: list[str] = []
        answerer = SqsProvider(
            sqs,
            request_url,
            response_url,
            Gate(delay_s=0.0),
            on_published=lambda d, _: published.append(d.interaction_id),
        )
        async with asyncio.timeout(20):
            while len(published) < 2:
                await answerer.run_once(wait_s=1)
            answers: list[dict[str, Any]] = []
            while len(answers) < 2:
                got = await sqs.receive_message(
                    QueueUrl=response_url, MaxNumberOfMessages=10, WaitTimeSeconds=1
                )
                answers += [json.loads(m["Body"]) for m in got.get("Messages", [])]
        by_id = {a["interactionId"]: next(iter(a["responsePayload"])) for a in answers}
        assert by_id == {"int-1": "approved", "int-7": "unapproved"}
        assert (answerer.counts.answered, answerer.counts.skipped) == (2, 1)
        attributes = (await sqs.get_queue_attributes(QueueUrl=request_url, AttributeNames=["All"]))[
            "Attributes"
        ]
        left = int(attributes["ApproximateNumberOfMessages"])
        left += int(attributes["ApproximateNumberOfMessagesNotVisible"])
        assert left == 0  # the answered requests and the unanswerable one were deleted


# ------------------------------------------------------------------------ make demo-csv


def run_demo(tmp_path: Path, *args: str, **env: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "demos.csv_payments.demo", *args],
        cwd=ROOT,
        env={
            **{k: v for k, v in os.environ.items() if not k.startswith(("TPF_", "KAFKA_"))},
            "TMPDIR": str(tmp_path),
            "PYTHONPATH": str(ROOT),
            **env,
        },
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert not list(tmp_path.glob("tpf-*")), "a passing demo removes its state directory"
    return done.stdout


@pytest.mark.parametrize(
    ("lane", "profile"),
    [("sqs", "burst"), ("kafka", "none")],
)
def test_demo_csv_runs_12_records_through_the_provider(
    lane: str, profile: str, tmp_path: Path
) -> None:
    out = run_demo(
        tmp_path,
        "--records",
        "12",
        TPF_CSV_AWAIT_TRANSPORT=lane,
        TPF_CSV_PROVIDER_DELAY_S="0",
        TPF_CSV_ADMISSION_PROFILE=profile,
    )
    assert "pipeline.max-concurrency=25" in out
    assert f"tpf.await-transport={lane}" in out
    assert "payment provider (pid" in out and f"on the {lane} lane" in out
    assert "'rows': 12, 'approved': 11, 'unapproved': 1" in out
    assert "payments_12.csv.out: 12 data rows (11 approved, 1 unapproved)" in out
    if profile != "none":
        assert "items.inFlight peaked at" in out
    assert out.rstrip().endswith(f"demo-csv-{lane} passed")
