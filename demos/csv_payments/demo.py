"""``make demo-csv``: the csv-payments demo (spec §11.2) on the HA shape, SQS or Kafka lane.

A local AWS (moto on a free 127.0.0.1 port: DynamoDB state, SQS work queue and DLQ, S3
releases, as ``make demo-ha``), ONE coordinator (``tpf serve``, the recipe's minimum block) and
ONE REST worker (``tpf worker``) hosting ``demos.csv_payments.pipeline``, and the mock payment
provider process (``python -m demos.csv_payments.provider``). The coordinator publishes one
await request per CSV record to the provider's channel and admits its answers from the
response channel:

- SQS lane (default): ``tpf.await-transport=sqs`` with request/response/dead-letter queues that
  ``tpf bootstrap aws`` creates beside the others;
- Kafka lane (``TPF_CSV_AWAIT_TRANSPORT=kafka``): a local Tansu with the topics
  ``csv-payments.payment.requests`` / ``csv-payments.payment.results`` of 25 partitions each,
  requests keyed by ``correlationId``, the coordinator's group ``csv-payments-orchestrator``.

The window is ``pipeline.max-concurrency=25``. The demo writes the input (the original's 12
rows, or ``--records N`` / ``TPF_CSV_RECORDS`` generated ones), submits it with the original's
idempotency key, waits for ``SUCCEEDED`` (``FAILED``/``DLQ`` or ``TPF_CSV_TIMEOUT_S``, default
300 s, fail it), prints the result and checks ``<input>.out`` has exactly N data rows in file
order. With ``TPF_CSV_ADMISSION_PROFILE=slow|burst`` (the provider's pacing) it samples the
status's ``items.inFlight`` every 0.25 s and fails if it ever exceeds 25. The provider's delay
is ``TPF_CSV_PROVIDER_DELAY_S`` (default 3 s). Exit 0 on success; 1 with what failed.

Run: ``python -m demos.csv_payments.demo [--records N] [--lane sqs|kafka]``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from demos.csv_payments import flow
from demos.csv_payments.pipeline import PIPELINE_ID, TENANT
from demos.csv_payments.provider import TOPICS
from demos.restaurant_approval.flows import envelope, say
from demos.restaurant_approval.ha.processes import Child, DemoFailure, child_env
from demos.restaurant_approval.ha.recipe import P
from demos.restaurant_approval.ha.runner import bring_up, run_demo
from demos.restaurant_approval.ha.stack import HaStack, Identity

WINDOW = 25
LANES = ("sqs", "kafka")
IDENTITY = Identity(
    tenant=TENANT,
    pipeline_id=PIPELINE_ID,
    pipeline_ref="demos.csv_payments.pipeline:pipeline",
    token="csv-control-plane-admin-token",
    worker_secret="csv-transition-worker-secret",
)
SQS_BASE = "https://sqs.eu-west-1.amazonaws.com/123456789012/"
QUEUES = ("csv-payments-payment-requests", "csv-payments-payment-results", "csv-payments-await-dlq")
DEAD_LETTER_TOPIC = "csv-payments.payment.dead-letters"
CONSUMER_GROUP = "csv-payments-orchestrator"
PARTITIONS = 25
RESUME_SECRET = "csv-demo-resume-token-secret"
TERMINAL = {"SUCCEEDED", "FAILED", "DLQ"}


@dataclass(frozen=True)
class Options:
    lane: str = "sqs"
    records: int = 12
    delay_s: float = 3.0
    profile: str = "none"
    timeout_s: float = 300.0


@dataclass
class Outcome:
    """What a run measured (the benchmark prints these)."""

    seconds: float = 0.0
    summary: flow.OutputSummary | None = None
    peak_in_flight: int = 0
    metrics: str = ""
    coordinator_rss_mb: float | None = None
    worker_rss_mb: float | None = None


def changes(lane: str, bootstrap_servers: str = "") -> dict[str, tuple[str, str]]:
    """What the csv demo changes in the recipe's block, and why."""
    common = {
        "pipeline.max-concurrency": (str(WINDOW), "the demo's live window (spec §11.2)"),
        P + "resume-token-secret": (RESUME_SECRET, "signed resume tokens on the broker"),
    }
    if lane == "sqs":
        return {
            **common,
            "tpf.await-transport": ("sqs", "the provider answers over SQS"),
            "tpf.await.sqs.request-queue-url": (SQS_BASE + QUEUES[0], "the provider's requests"),
            "tpf.await.sqs.response-queue-url": (SQS_BASE + QUEUES[1], "its answers"),
            "tpf.await.sqs.dead-letter-queue-url": (SQS_BASE + QUEUES[2], "poison answers"),
            "tpf.await.sqs.wait-time-seconds": ("1", "short polls: a quick stop"),
            "tpf.await.sqs.max-messages": ("10", "answers received (and deleted) 10 at a time"),
        }
    return {
        **common,
        "tpf.await-transport": ("kafka", "the provider answers over Kafka"),
        "kafka.bootstrap-servers": (bootstrap_servers, "the local Tansu"),
        "tpf.await.kafka.request-topic": (TOPICS[0], "spec §11.2"),
        "tpf.await.kafka.response-topic": (TOPICS[1], "spec §11.2"),
        "tpf.await.kafka.dead-letter-topic": (DEAD_LETTER_TOPIC, "poison answers"),
        "tpf.await.kafka.consumer-group": (CONSUMER_GROUP, "spec §11.2"),
        "tpf.await.kafka.request-key": ("correlationId", "spec §11.2"),
    }


def provider_command(options: Options, lane_args: list[str]) -> list[str]:
    """``python -m demos.csv_payments.provider`` with the run's delay and profile."""
    return [
        sys.executable,
        "-m",
        "demos.csv_payments.provider",
        "--delay-s",
        str(options.delay_s),
        "--profile",
        options.profile,
        *lane_args,
    ]


def provider_child(stack: HaStack, options: Options, bootstrap_servers: str = "") -> Child:
    if options.lane == "sqs":
        lane_args = [
            "sqs",
            "--endpoint-url",
            stack.endpoint,
            "--region",
            "eu-west-1",
            "--request-queue-url",
            SQS_BASE + QUEUES[0],
            "--response-queue-url",
            SQS_BASE + QUEUES[1],
        ]
    else:
        lane_args = ["kafka", "--bootstrap-servers", bootstrap_servers]
    command = provider_command(options, lane_args)
    return stack.children.add(
        Child("payment-provider", command, stack.state_dir / "provider.log", env=child_env())
    )


@dataclass
class Target:
    """Where a run goes: the coordinator's client and URL, the state directory, the processes
    (the HA stack's, or the benchmark's embedded coordinator, which has no worker)."""

    client: Any
    base_url: str
    state_dir: Path
    coordinator: Any  # a Child, or anything with a pid
    worker: Any | None = None

    @classmethod
    def of(cls, stack: HaStack) -> Target:
        worker = stack.workers[0] if stack.workers else None
        return cls(stack.client(60.0), stack.base_url, stack.state_dir, stack.coordinator, worker)


def metrics_text(base_url: str) -> str:
    with urllib.request.urlopen(f"{base_url}/q/metrics", timeout=10) as answer:
        return str(answer.read().decode())


def run_flow(target: Target, options: Options, provider: Child) -> Outcome:
    """Submit, wait, check; the figures. :class:`DemoFailure` saying what failed."""
    client = target.client
    path = flow.write_input(target.state_dir / "input", options.records)
    key = flow.idempotency_key(path)
    say(f"\n== Submit {path.name} ({options.records} record(s)), idempotency key {key}")
    submitted = client.submit(
        PIPELINE_ID, envelope(flow.submit_payload(path), flow.INPUT_TYPE), idempotency_key=key
    )
    eid = str(submitted["executionId"])
    started = time.monotonic()
    say(f"execution {eid}")
    sampler = flow.WindowSampler(lambda: flow.in_flight_of(client.status(eid)))
    if options.profile != "none":
        sampler.start()
    try:
        final = wait_terminal(client, eid, options.timeout_s, started)
    finally:
        sampler.stop()
    seconds = time.monotonic() - started
    if final["status"] != "SUCCEEDED":
        raise DemoFailure(explain(final, eid, options, provider, target))
    outcome = Outcome(seconds=seconds, peak_in_flight=sampler.peak)
    result = client.result(eid)
    say(f"SUCCEEDED after {seconds:.1f} s; result: {result_of(result)}")
    say(f"items: {final.get('items')}")
    try:
        outcome.summary = flow.check_output(path, options.records)
        if options.profile != "none":
            sampler.check(WINDOW)
            say(f"items.inFlight peaked at {sampler.peak} ({sampler.samples} samples, window 25)")
            if sampler.samples == 0:
                raise flow.CheckFailed(f"no in-flight sample could be read: {sampler.errors[:3]}")
    except flow.CheckFailed as exc:
        raise DemoFailure(str(exc)) from None
    items = final.get("items") or {}
    if items.get("pending") or items.get("inFlight"):
        raise DemoFailure(f"SUCCEEDED with items left: {items}")
    summary = outcome.summary
    say(
        f"{path.name}.out: {summary.rows} data rows ({summary.approved} approved, "
        f"{summary.unapproved} unapproved)"
    )
    outcome.metrics = metrics_text(target.base_url)
    outcome.coordinator_rss_mb = flow.peak_rss_mb(target.coordinator.pid)
    if target.worker is not None:
        outcome.worker_rss_mb = flow.peak_rss_mb(target.worker.pid)
    return outcome


def result_of(result: dict[str, Any]) -> Any:
    """The result's payload (the ``PaymentOutput``), decoded when it is a payload envelope."""
    payload = result.get("resultPayload")
    if isinstance(payload, dict) and isinstance(payload.get("payload"), str):
        with contextlib.suppress(ValueError):
            return json.loads(payload["payload"])
    return payload


def wait_terminal(client: Any, eid: str, timeout_s: float, started: float) -> dict[str, Any]:
    """Long-poll the status (a wait of up to 5 s each, with the server answering on change)
    until terminal or the deadline; the last status."""
    deadline = started + timeout_s
    last_report = started
    while True:
        left_ms = int(max(0.0, deadline - time.monotonic()) * 1000)
        status: dict[str, Any] = client.status(eid, wait_ms=min(5_000, left_ms))
        if status["status"] in TERMINAL or time.monotonic() >= deadline:
            return status
        if time.monotonic() - last_report >= 10:
            last_report = time.monotonic()
            say(f"  {status['status']} at step {status['stepIndex']}: items {status.get('items')}")


def explain(
    final: dict[str, Any], eid: str, options: Options, provider: Child, target: Target
) -> str:
    """Why the run did not succeed, with where to look."""
    items = final.get("items") or {}
    lines = [f"execution {eid} is {final['status']} at step {final['stepIndex']}"]
    if final["status"] not in TERMINAL:
        lines[0] += f" after {options.timeout_s:.0f} s"
    for field in ("errorCode", "errorMessage"):
        if final.get(field):
            lines.append(f"  {field}: {final[field]}")
    if items:
        lines.append(f"  items: {items}")
        if items.get("inFlight") and "answered" not in provider.log():
            lines.append(
                f"  the provider answered nothing: the requests did not reach it on the "
                f"{options.lane} lane (coordinator dispatch) or it cannot reach the broker"
            )
        elif items.get("inFlight"):
            lines.append(
                "  the provider answers, but items stay in flight: the coordinator is not "
                "admitting the answers (its log says why)"
            )
    if not provider.alive:
        lines.append(f"  the provider exited:\n{provider.tail()}")
    if hasattr(target.coordinator, "tail"):
        lines.append(f"  coordinator log tail:\n{target.coordinator.tail(15)}")
    return "\n".join(lines)


@contextlib.contextmanager
def kafka_broker(lane: str) -> Iterator[str]:
    """A local Tansu with the demo's topics (25 partitions) for the Kafka lane; '' for SQS."""
    if lane != "kafka":
        yield ""
        return
    from tpf.dev.tansu import running_broker

    with running_broker() as broker:
        asyncio.run(create_topics(broker.bootstrap_servers))
        yield broker.bootstrap_servers


async def create_topics(servers: str) -> None:
    from tpf.kafka.admin import bootstrap_kafka
    from tpf.kafka.connection import KafkaConnection

    connection = KafkaConnection(bootstrap_servers=servers, client_id="csv-payments-demo")
    topics = {"requests": TOPICS[0], "results": TOPICS[1], "dead-letters": DEAD_LETTER_TOPIC}
    await bootstrap_kafka(connection, topics, partitions=PARTITIONS)


def run(options: Options, report: Callable[[Outcome], None] | None = None) -> int:
    """The demo on ``options``; ``report`` gets the figures of a passing run. Exit status."""
    with kafka_broker(options.lane) as servers:

        def body(stack: HaStack) -> None:
            bring_up(stack, worker_name="csv-rest-worker")
            provider = provider_child(stack, options, servers)
            provider.start()
            say(
                f"payment provider (pid {provider.pid}) on the {options.lane} lane: delay "
                f"{options.delay_s:g} s, admission profile {options.profile}"
            )
            outcome = run_flow(Target.of(stack), options, provider)
            if report is not None:
                report(outcome)

        where = "a local Tansu (25 partitions)" if options.lane == "kafka" else "moto's SQS"
        return run_demo(
            f"demo-csv-{options.lane}",
            f"csv payments over {where}; one coordinator, one REST worker, the provider",
            body,
            changes=changes(options.lane, servers),
            identity=IDENTITY,
        )


def options_from(argv: list[str]) -> Options:
    env = os.environ.get
    parser = argparse.ArgumentParser(prog="demo-csv", description=__doc__.splitlines()[0])
    parser.add_argument("--lane", choices=LANES, default=env("TPF_CSV_AWAIT_TRANSPORT", "sqs"))
    parser.add_argument("--records", type=int, default=int(env("TPF_CSV_RECORDS", "12")))
    parser.add_argument(
        "--delay-s", type=float, default=float(env("TPF_CSV_PROVIDER_DELAY_S", "3"))
    )
    parser.add_argument(
        "--profile",
        choices=("none", "slow", "burst"),
        default=env("TPF_CSV_ADMISSION_PROFILE") or "none",
    )
    parser.add_argument("--timeout-s", type=float, default=float(env("TPF_CSV_TIMEOUT_S", "300")))
    args = parser.parse_args(argv)
    if args.records < 1:
        parser.error("--records must be at least 1")
    return Options(args.lane, args.records, args.delay_s, args.profile, args.timeout_s)


def main(argv: list[str] | None = None) -> int:
    return run(options_from(sys.argv[1:] if argv is None else argv))


if __name__ == "__main__":
    sys.exit(main())
