"""The mock payment provider of the csv-payments demo: answers await requests over SQS or Kafka.

``python -m demos.csv_payments.provider sqs|kafka`` consumes the coordinator's await dispatch
envelopes (spec §4.7) for ``Await Payment Provider`` (one per CSV record) and publishes one
completion envelope per request with the pipeline's answer shapes:
``{"approved": {csvId, recipient, amount, currency, reference}}`` or ``{"unapproved": {csvId,
recipient, amount, currency, reason}}`` (:mod:`demos.csv_payments.answers`: deterministic, so
an answer sent twice is the same answer and the coordinator acknowledges the duplicate).

The envelope parsing, the completion envelope and the broker clients are the restaurant
responder's (:mod:`demos.restaurant_approval.responder`); what this process adds is volume and
pacing (:mod:`demos.csv_payments.pacing`). Answers leave ``delay`` seconds after their request
arrived (3 s by default, as the original's provider; 0 for benchmarks), then through the
admission profile of ``TPF_CSV_ADMISSION_PROFILE``: ``slow`` releases one completion every
25 ms, ``burst`` holds completions and flushes at most 25 of them every 0.25 s. A request is
acknowledged only after its answer was accepted by the broker: SQS deletes in batches after
``SendMessageBatch``; on Kafka one consumer fetches, the answers of a fetch are produced
together, and a partition's offset is committed only up to the first request not yet answered
(``OffsetTracker``), so a provider that dies answers the rest again when it restarts.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from demos.csv_payments.answers import (
    ACTOR,
    Counts,
    answer,
    parse_request,
)
from demos.csv_payments.pacing import (
    DEFAULT_DELAY_S,
    PROFILES,
    Gate,
    OffsetTracker,
    Pacer,
)
from demos.restaurant_approval.responder import (
    ENV,
    Dispatch,
    DispatchError,
    encode,
    kafka_clients,
    run_loop,
    run_process,
    run_until,
    sqs_client,
)

LOG = logging.getLogger("csv.provider")
PROFILE_ENV = "TPF_CSV_ADMISSION_PROFILE"
DELAY_ENV = "TPF_CSV_PROVIDER_DELAY_S"
SQS_POLLERS = 4  # concurrent receives of 10: one poll's round trip does not bound the rate
TOPICS = ("csv-payments.payment.requests", "csv-payments.payment.results")
GROUP = "csv-payments-provider"
# Called with each answered request and the answer, once the broker accepted it.
Published = Callable[[Dispatch, dict[str, Any]], None]


# ---------------------------------------------------------------------------- the loops


def _log_answered(dispatch: Dispatch, envelope: dict[str, Any], hook: Published | None) -> None:
    if LOG.isEnabledFor(logging.DEBUG):
        outcome = next(iter(envelope["responsePayload"]))
        LOG.debug(
            "answered %s (csvId %s): %s",
            dispatch.interaction_id,
            dispatch.request["csvId"],
            outcome,
        )
    if hook is not None:
        hook(dispatch, envelope)


@dataclass
class SqsProvider:
    """Several long polls of 10 on the request queue; answers with ``SendMessageBatch`` and
    deletes the answered requests with ``DeleteMessageBatch`` (an aiobotocore client)."""

    sqs: Any
    request_queue_url: str
    response_queue_url: str
    gate: Gate
    reference: str = "interactionId"
    on_published: Published | None = None
    counts: Counts = field(default_factory=Counts)

    async def run_once(self, wait_s: int = 20) -> int:
        response = await self.sqs.receive_message(
            QueueUrl=self.request_queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=wait_s
        )
        received = self.gate.now()
        messages = response.get("Messages", [])
        answers, unanswerable = [], []
        for message in messages:
            try:
                dispatch = parse_request(message["Body"])
                answers.append((message, dispatch, answer(dispatch, self.reference)))
            except DispatchError as exc:
                LOG.error("skipping a request I cannot answer: %s; body: %s", exc, message["Body"])
                self.counts.skipped += 1
                unanswerable.append(message)
        await self._delete(unanswerable)  # leaving them would loop
        done = 0
        async for group in self.gate.groups(answers, received):
            done += await self._publish(group)
        return done

    async def _publish(self, group: list[tuple[Any, Dispatch, dict[str, Any]]]) -> int:
        entries = [
            {"Id": str(i), "MessageBody": encode(envelope).decode()}
            for i, (_, _, envelope) in enumerate(group)
        ]
        result = await self.sqs.send_message_batch(
            QueueUrl=self.response_queue_url, Entries=entries
        )
        failed = {f["Id"] for f in result.get("Failed", [])}
        if failed:  # left undeleted: they come back after the visibility timeout
            LOG.warning("%d answer(s) refused by SQS: %s", len(failed), result["Failed"])
        sent = [entry for i, entry in enumerate(group) if str(i) not in failed]
        await self._delete([message for message, _, _ in sent])
        for _, dispatch, envelope in sent:
            self.counts.add(envelope)
            _log_answered(dispatch, envelope, self.on_published)
        return len(sent)

    async def _delete(self, messages: list[dict[str, Any]]) -> None:
        if not messages:
            return
        await self.sqs.delete_message_batch(
            QueueUrl=self.request_queue_url,
            Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)
            ],
        )

    async def run(self, stop: asyncio.Event, pollers: int = SQS_POLLERS) -> None:
        await asyncio.gather(*(run_loop(self.run_once, stop) for _ in range(pollers)))


@dataclass
class KafkaProvider:
    """One consumer on the request topic; each fetch's answers are produced together (not one
    awaited send per record) while the next fetch runs, on the response topic with the
    request's key; offsets are committed as :class:`OffsetTracker` allows."""

    consumer: Any
    producer: Any
    response_topic: str
    gate: Gate
    reference: str = "interactionId"
    on_published: Published | None = None
    counts: Counts = field(default_factory=Counts)
    offsets: OffsetTracker = field(default_factory=OffsetTracker)
    tasks: set[asyncio.Task[None]] = field(default_factory=set)

    async def run_once(self, timeout_ms: int = 1_000) -> int:
        batches = await self.consumer.getmany(timeout_ms=timeout_ms, max_records=1_000)
        received = self.gate.now()
        answers = []
        for partition, records in batches.items():
            for record in records:
                self.offsets.taken(partition, record.offset)
                try:
                    dispatch = parse_request(record.value)
                    envelope = answer(dispatch, self.reference)
                except DispatchError as exc:
                    LOG.error("skipping a request I cannot answer: %s; body: %r", exc, record.value)
                    self.counts.skipped += 1
                    self.offsets.answered(partition, record.offset)
                    continue
                answers.append((partition, record, dispatch, envelope))
        if answers:
            task = asyncio.ensure_future(self._answer(answers, received))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)
        else:
            await self._commit()
        return len(answers)

    async def _answer(self, answers: list[Any], received: float) -> None:
        try:
            async for group in self.gate.groups(answers, received):
                sends = [
                    await self.producer.send(self.response_topic, encode(env), key=record.key)
                    for _, record, _, env in group
                ]
                await asyncio.gather(*sends)  # every answer of the group accepted by the broker
                for partition, record, dispatch, envelope in group:
                    self.offsets.answered(partition, record.offset)
                    self.counts.add(envelope)
                    _log_answered(dispatch, envelope, self.on_published)
                await self._commit()
        except Exception:  # not committed: the requests come back after a restart
            LOG.exception("answering %d request(s) failed", len(answers))

    async def _commit(self) -> None:
        offsets = self.offsets.committable()
        if offsets:
            await self.consumer.commit(offsets)
            self.offsets.mark_committed(offsets)

    async def run(self, stop: asyncio.Event) -> None:
        try:
            await run_loop(self.run_once, stop)
        finally:
            for task in list(self.tasks):
                task.cancel()


@dataclass
class RestProvider:
    """The same answers over the coordinator's REST API: polls the pending interactions of the
    await step and completes each (``POST /interactions/complete``), for the embedded shape
    whose awaits have no broker. ``http`` is an aiohttp session with the control-plane token."""

    http: Any
    tenant: str
    gate: Gate
    step_id: str = "Await Payment Provider"
    on_published: Published | None = None
    counts: Counts = field(default_factory=Counts)

    async def run_once(self, wait_s: float = 0.05) -> int:
        base = f"/tpf/control-plane/tenants/{self.tenant}/interactions"
        query = {"stepId": self.step_id, "limit": "200"}
        async with self.http.get(f"{base}/pending", params=query) as response:
            response.raise_for_status()
            pending = await response.json()
        if not pending:
            await asyncio.sleep(wait_s)  # nothing open: the REST API has no long poll here
            return 0
        received = self.gate.now()
        dispatches = [_pending_dispatch(self.tenant, record) for record in pending]
        done = 0
        async for group in self.gate.groups(dispatches, received):
            answers = await asyncio.gather(*(self._complete(base, d) for d in group))
            done += sum(answers)
        return done

    async def _complete(self, base: str, dispatch: Dispatch) -> int:
        envelope = answer(dispatch)
        body = {  # the REST completion request: the interaction, the answer, who answered
            "interactionId": dispatch.interaction_id,
            "responsePayload": envelope["responsePayload"],
            "actor": ACTOR,
        }
        async with self.http.post(f"{base}/complete", json=body) as response:
            if response.status >= 400:
                why = await response.text()
                LOG.warning(
                    "completion of %s refused: %s %s", dispatch.interaction_id, response.status, why
                )
                return 0
        self.counts.add(envelope)
        _log_answered(dispatch, envelope, self.on_published)
        return 1

    async def run(self, stop: asyncio.Event, pollers: int = 1) -> None:
        await run_loop(self.run_once, stop)


def _pending_dispatch(tenant: str, record: dict[str, Any]) -> Dispatch:
    """A pending interaction (the REST DTO) as the dispatch the answers are made from."""
    return Dispatch(
        tenant_id=tenant,
        execution_id=record["executionId"],
        interaction_id=record["interactionId"],
        correlation_id=record.get("correlationId") or "",
        step_id=record["stepId"],
        resume_token=None,
        request=record.get("requestPayload") or {},
        transport_metadata=record.get("transportMetadata") or {},
    )


# ---------------------------------------------------------------------------- the process


def _arguments(argv: list[str]) -> argparse.Namespace:
    env = os.environ.get
    parser = argparse.ArgumentParser(prog="provider", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--delay-s",
        type=float,
        default=float(env(DELAY_ENV, str(DEFAULT_DELAY_S))),
        help=f"seconds between a request and its answer (default {DEFAULT_DELAY_S:g}; {DELAY_ENV})",
    )
    parser.add_argument(
        "--profile",
        choices=PROFILES,
        default=env(PROFILE_ENV) or "none",
        help=f"admission profile (default none; {PROFILE_ENV})",
    )
    parser.add_argument("--reference", default="interactionId")
    lanes = parser.add_subparsers(dest="lane", required=True)
    sqs = lanes.add_parser("sqs")
    sqs.add_argument("--endpoint-url", default=env(ENV["endpoint_url"]))
    sqs.add_argument("--region", default=env(ENV["region"]))
    sqs.add_argument("--request-queue-url", default=env(ENV["request_queue_url"]))
    sqs.add_argument("--response-queue-url", default=env(ENV["response_queue_url"]))
    sqs.add_argument("--pollers", type=int, default=SQS_POLLERS)
    kafka = lanes.add_parser("kafka")
    kafka.add_argument("--bootstrap-servers", default=env(ENV["bootstrap_servers"]))
    kafka.add_argument("--request-topic", default=env(ENV["request_topic"], TOPICS[0]))
    kafka.add_argument("--response-topic", default=env(ENV["response_topic"], TOPICS[1]))
    kafka.add_argument("--group", default=GROUP)
    rest = lanes.add_parser("rest")
    rest.add_argument("--base-url", required=True)
    rest.add_argument("--tenant", default="csv-demo")
    rest.add_argument("--token", default=env("TPF_CONTROL_PLANE_TOKEN"))
    args = parser.parse_args(argv)
    needed = {
        "sqs": ("request_queue_url", "response_queue_url"),
        "kafka": ("bootstrap_servers",),
        "rest": (),
    }[args.lane]
    for name in needed:
        if not getattr(args, name):
            parser.error(f"--{name.replace('_', '-')} (or {ENV[name]}) is required")
    return args


async def _report(counts: Counts, stop: asyncio.Event, every_s: float = 5.0) -> None:
    last = -1
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), every_s)
        if counts.answered != last:
            last = counts.answered
            LOG.info(
                "answered %d (approved %d, unapproved %d), skipped %d",
                counts.answered,
                counts.approved,
                counts.unapproved,
                counts.skipped,
            )


async def serve(args: argparse.Namespace, stop: asyncio.Event) -> None:
    gate = Gate(delay_s=args.delay_s, pacer=Pacer(args.profile))
    how = f"delay {args.delay_s:g} s, profile {args.profile}"
    if args.lane == "rest":
        import aiohttp

        headers = {"Authorization": f"Bearer {args.token}"} if args.token else {}
        connector = aiohttp.TCPConnector(limit=64)
        async with aiohttp.ClientSession(
            args.base_url, headers=headers, connector=connector
        ) as http:
            over_rest = RestProvider(http, args.tenant, gate)
            print(f"provider: completing over REST at {args.base_url} ({how})", flush=True)
            reporter = asyncio.ensure_future(_report(over_rest.counts, stop))
            await run_until(over_rest.run(stop), stop)
            await reporter
        return
    if args.lane == "sqs":
        async with sqs_client(args.endpoint_url, args.region) as sqs:
            on_sqs = SqsProvider(
                sqs, args.request_queue_url, args.response_queue_url, gate, args.reference
            )
            print(f"provider: answering {args.request_queue_url} ({how})", flush=True)
            reporter = asyncio.ensure_future(_report(on_sqs.counts, stop))
            await run_until(on_sqs.run(stop, args.pollers), stop)
            await reporter
        return
    async with kafka_clients(
        args.bootstrap_servers, args.request_topic, args.group, client_id=ACTOR
    ) as (consumer, producer):
        provider = KafkaProvider(consumer, producer, args.response_topic, gate, args.reference)
        print(
            f"provider: answering {args.request_topic} on {args.bootstrap_servers} ({how})",
            flush=True,
        )
        reporter = asyncio.ensure_future(_report(provider.counts, stop))
        await run_until(provider.run(stop), stop)
        await reporter


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("aiokafka").setLevel(logging.WARNING)
    return run_process(serve, _arguments(sys.argv[1:] if argv is None else argv))


if __name__ == "__main__":
    sys.exit(main())
