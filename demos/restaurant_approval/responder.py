"""The "restaurant" of the broker demos: answers await requests arriving over SQS or Kafka.

A small process (``python -m demos.restaurant_approval.responder sqs|kafka``) that consumes the
coordinator's await dispatch envelopes (spec §4.7: ``tenantId, executionId, interactionId,
correlationId, stepId, deadlineEpochMs, inputType, outputType, resumeToken, requestPayload,
transportMetadata``) from the request queue/topic, decides each order with the demo's one rule
(:func:`demos.restaurant_approval.decisions.decide`) and publishes the completion envelope
(``tenantId, interactionId, correlationId, resumeToken, idempotencyKey, responsePayload,
actor``) to the response queue/topic. ``responsePayload`` is the plain JSON of the await's
output type (``{"accepted": {...}}`` or ``{"declined": {...}}``), as the spec's envelope shows.

Its request is acknowledged (SQS delete, Kafka offset commit) only after the answer was
accepted by the broker, so a responder that dies in between answers again when it restarts;
the coordinator acknowledges an identical duplicate. A request that is not a dispatch envelope
is logged whole and acknowledged: the responder cannot answer it, and leaving it would loop.

Where it connects comes from flags, defaulting to the coordinator's own variables
(:data:`ENV`), so one environment points both at a real broker.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime
import json
import logging
import os
import signal
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from demos.restaurant_approval.decisions import decide, decision_payload
from tpf.core.clock import Clock, SystemClock
from tpf.core.codec import decode_payload
from tpf.core.errors import ValidationError

LOG = logging.getLogger("restaurant.responder")
ACTOR = "restaurant-responder"
RETRY_PAUSE_S = 1.0
REFERENCES = ("interactionId", "correlationId", "resumeToken")
# The coordinator's variables the flags default to (names per tpf.config.broker_keys).
ENV = {
    "request_queue_url": "TPF_AWAIT_SQS_REQUEST_QUEUE_URL",
    "response_queue_url": "TPF_AWAIT_SQS_RESPONSE_QUEUE_URL",
    "endpoint_url": "PIPELINE_ORCHESTRATOR_SQS_ENDPOINT_OVERRIDE",
    "region": "PIPELINE_ORCHESTRATOR_SQS_REGION",
    "bootstrap_servers": "KAFKA_BOOTSTRAP_SERVERS",
    "request_topic": "TPF_AWAIT_KAFKA_REQUEST_TOPIC",
    "response_topic": "TPF_AWAIT_KAFKA_RESPONSE_TOPIC",
}
DEFAULT_TOPICS = ("tpf-await-kafka-requests", "tpf-await-kafka-responses")
# Called with each answered request and the answer, once the broker accepted it (the bench
# times completion published -> result from here).
Published = Callable[["Dispatch", dict[str, Any]], None]


class DispatchError(ValueError):
    """A message that is not an await dispatch envelope; the message names the field."""


@dataclass(frozen=True, slots=True)
class Dispatch:
    """The members of a dispatch envelope the responder uses."""

    tenant_id: str
    execution_id: str
    interaction_id: str
    correlation_id: str
    step_id: str
    resume_token: str | None
    request: dict[str, Any]
    transport_metadata: dict[str, Any]


def parse_dispatch(body: bytes | str) -> Dispatch:
    """The restaurant's dispatch envelope in ``body`` (its request names an ``orderId``);
    :class:`DispatchError` naming what is wrong."""
    dispatch = parse_envelope(body)
    if not isinstance(dispatch.request.get("orderId"), str):
        raise DispatchError("dispatch envelope: requestPayload.orderId is required (a string)")
    return dispatch


def parse_envelope(body: bytes | str) -> Dispatch:
    """Any await's dispatch envelope in ``body`` (its request a JSON object);
    :class:`DispatchError` naming what is wrong."""
    try:
        raw = json.loads(body)
    except (ValueError, TypeError) as exc:
        raise DispatchError(f"dispatch envelope: not JSON: {exc}") from None
    if not isinstance(raw, dict):
        raise DispatchError("dispatch envelope: expected a JSON object")
    ids: dict[str, str] = {}
    for name in ("tenantId", "executionId", "interactionId", "correlationId", "stepId"):
        value = raw.get(name)
        if not isinstance(value, str) or not value.strip():
            raise DispatchError(f"dispatch envelope: {name} is required (a non-blank string)")
        ids[name] = value
    if "requestPayload" not in raw:
        raise DispatchError("dispatch envelope: requestPayload is required")
    try:  # the coordinator sends plain JSON; a payload envelope (the REST form) is read too
        _, request = decode_payload(raw["requestPayload"], field="requestPayload")
    except ValidationError as exc:
        raise DispatchError(f"dispatch envelope: {exc}") from None
    if not isinstance(request, dict):
        raise DispatchError("dispatch envelope: requestPayload must be a JSON object")
    token = raw.get("resumeToken")
    metadata = raw.get("transportMetadata")
    return Dispatch(
        tenant_id=ids["tenantId"],
        execution_id=ids["executionId"],
        interaction_id=ids["interactionId"],
        correlation_id=ids["correlationId"],
        step_id=ids["stepId"],
        resume_token=token if isinstance(token, str) and token else None,
        request=request,
        transport_metadata=metadata if isinstance(metadata, dict) else {},
    )


def iso_utc(ms: int) -> str:
    """``2026-11-27T19:00:00.123Z`` for epoch milliseconds."""
    moment = datetime.datetime.fromtimestamp(ms / 1000, tz=datetime.UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def completion_envelope(
    dispatch: Dispatch, clock: Clock, *, reference: str = "interactionId", actor: str = ACTOR
) -> dict[str, Any]:
    """The completion envelope answering ``dispatch`` (spec §4.7 field order), naming the
    interaction by ``reference``: its id, its correlation id, or its resume token."""
    payload = decision_payload(
        dispatch.request["orderId"], decide(dispatch.request), iso_utc(clock.now_ms())
    )
    return answer_envelope(dispatch, payload, reference=reference, actor=actor)


def answer_envelope(
    dispatch: Dispatch,
    payload: dict[str, Any],
    *,
    reference: str = "interactionId",
    actor: str = ACTOR,
) -> dict[str, Any]:
    """The completion envelope (spec §4.7 field order) answering ``dispatch`` with
    ``payload`` as ``responsePayload``, naming the interaction by ``reference``."""
    if reference not in REFERENCES:
        raise ValueError(f"reference must be one of {', '.join(REFERENCES)}, got {reference!r}")
    if reference == "resumeToken" and dispatch.resume_token is None:
        raise DispatchError("dispatch envelope: resumeToken is required to answer by token")
    return {
        "tenantId": dispatch.tenant_id,
        "interactionId": dispatch.interaction_id if reference != "correlationId" else None,
        "correlationId": dispatch.correlation_id if reference == "correlationId" else None,
        "resumeToken": dispatch.resume_token if reference == "resumeToken" else None,
        "idempotencyKey": None,
        "responsePayload": payload,
        "actor": actor,
    }


def encode(envelope: dict[str, Any]) -> bytes:
    return json.dumps(envelope, separators=(",", ":")).encode()


def _outcome(envelope: dict[str, Any]) -> str:
    return str(next(iter(envelope["responsePayload"])))


@dataclass
class SqsResponder:
    """Long-polls the request queue; answers on the response queue (an aiobotocore client)."""

    sqs: Any
    request_queue_url: str
    response_queue_url: str
    clock: Clock
    reference: str = "interactionId"
    on_published: Published | None = None

    async def run_once(self, wait_s: int = 20) -> int:
        """One receive (long poll of up to ``wait_s``); the number of requests answered."""
        response = await self.sqs.receive_message(
            QueueUrl=self.request_queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=wait_s
        )
        answered = 0
        for message in response.get("Messages", []):
            answered += await self._answer(message)
            await self.sqs.delete_message(
                QueueUrl=self.request_queue_url, ReceiptHandle=message["ReceiptHandle"]
            )
        return answered

    async def _answer(self, message: dict[str, Any]) -> int:
        try:
            dispatch = parse_dispatch(message["Body"])
            envelope = completion_envelope(dispatch, self.clock, reference=self.reference)
        except DispatchError as exc:
            LOG.error("skipping a request I cannot answer: %s; body: %s", exc, message["Body"])
            return 0
        await self.sqs.send_message(
            QueueUrl=self.response_queue_url, MessageBody=encode(envelope).decode()
        )
        _published(dispatch, envelope, self.on_published)
        return 1

    async def run(self, stop: asyncio.Event) -> None:
        await run_loop(self.run_once, stop)


@dataclass
class KafkaResponder:
    """A consumer group on the request topic; answers on the response topic with the request's
    record key, so answers about one key keep their order. ``consumer`` and ``producer`` are
    started aiokafka clients (the consumer subscribed, auto-commit off)."""

    consumer: Any
    producer: Any
    response_topic: str
    clock: Clock
    reference: str = "interactionId"
    on_published: Published | None = None

    async def run_once(self, timeout_ms: int = 1_000) -> int:
        """One fetch: answer every record it returned, then commit their offsets."""
        batches = await self.consumer.getmany(timeout_ms=timeout_ms)
        answers: list[tuple[Dispatch, dict[str, Any], Any]] = []
        for records in batches.values():
            for record in records:
                try:
                    dispatch = parse_dispatch(record.value)
                    envelope = completion_envelope(dispatch, self.clock, reference=self.reference)
                except DispatchError as exc:
                    LOG.error("skipping a request I cannot answer: %s; body: %r", exc, record.value)
                    continue
                # Sent together, awaited together: one round trip per fetch, not per record
                # (the producer keeps each partition's records in order).
                sent = await self.producer.send(
                    self.response_topic, encode(envelope), key=record.key
                )
                answers.append((dispatch, envelope, sent))
        await asyncio.gather(*(sent for _, _, sent in answers))
        for dispatch, envelope, _ in answers:
            _published(dispatch, envelope, self.on_published)
        if batches:
            await self.consumer.commit()  # only after every answer was accepted by the broker
        return len(answers)

    async def run(self, stop: asyncio.Event) -> None:
        await run_loop(self.run_once, stop)


async def run_loop(once: Callable[[], Awaitable[int]], stop: asyncio.Event) -> None:
    """``once`` until ``stop``; a failed round (broker unreachable...) is logged and retried
    after a pause, and the requests it did not acknowledge come back to be answered."""
    while not stop.is_set():
        try:
            await once()
        except Exception:
            LOG.exception("responder round failed; retrying in %.0f s", RETRY_PAUSE_S)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), RETRY_PAUSE_S)


def _published(dispatch: Dispatch, envelope: dict[str, Any], hook: Published | None) -> None:
    LOG.info(
        "answered %s for order %s: %s",
        dispatch.interaction_id,
        dispatch.request["orderId"],
        _outcome(envelope),
    )
    if hook is not None:
        hook(dispatch, envelope)


@contextlib.asynccontextmanager
async def sqs_client(endpoint_url: str | None, region: str | None) -> Any:
    from aiobotocore.session import get_session

    async with get_session().create_client(
        "sqs", endpoint_url=endpoint_url, region_name=region or "us-east-1"
    ) as client:
        yield client


@contextlib.asynccontextmanager
async def kafka_clients(
    bootstrap_servers: str, request_topic: str, group: str, client_id: str = ACTOR
) -> Any:
    """A started (consumer, producer) pair; connection options as the coordinator reads them."""
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

    from tpf.kafka.connection import KafkaConnection

    connection = KafkaConnection(
        bootstrap_servers=bootstrap_servers,
        client_id=client_id,
        security_protocol=os.environ.get("KAFKA_SECURITY_PROTOCOL", "PLAINTEXT"),
        sasl_mechanism=os.environ.get("KAFKA_SASL_MECHANISM"),
        sasl_username=os.environ.get("KAFKA_SASL_USERNAME"),
        sasl_password=os.environ.get("KAFKA_SASL_PASSWORD"),
    )
    consumer = AIOKafkaConsumer(
        request_topic,
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",  # requests sent before the group joined are answered
        fetch_max_wait_ms=50,  # answer as soon as a request lands, not after 500 ms
        **connection.client_kwargs(),
    )
    producer = AIOKafkaProducer(acks="all", **connection.client_kwargs())
    await producer.start()
    try:
        await consumer.start()
        try:
            yield consumer, producer
        finally:
            await consumer.stop()
    finally:
        await producer.stop()


def _arguments(argv: list[str]) -> argparse.Namespace:
    env = os.environ.get
    parser = argparse.ArgumentParser(prog="responder", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--reference",
        choices=REFERENCES,
        default="interactionId",
        help="how answers name the interaction (default interactionId)",
    )
    lanes = parser.add_subparsers(dest="lane", required=True)
    sqs = lanes.add_parser("sqs")
    sqs.add_argument("--endpoint-url", default=env(ENV["endpoint_url"]))
    sqs.add_argument("--region", default=env(ENV["region"]))
    sqs.add_argument("--request-queue-url", default=env(ENV["request_queue_url"]))
    sqs.add_argument("--response-queue-url", default=env(ENV["response_queue_url"]))
    kafka = lanes.add_parser("kafka")
    kafka.add_argument("--bootstrap-servers", default=env(ENV["bootstrap_servers"]))
    kafka.add_argument("--request-topic", default=env(ENV["request_topic"], DEFAULT_TOPICS[0]))
    kafka.add_argument("--response-topic", default=env(ENV["response_topic"], DEFAULT_TOPICS[1]))
    kafka.add_argument("--group", default="restaurant-responder")
    args = parser.parse_args(argv)
    needed = (
        ("request_queue_url", "response_queue_url")
        if args.lane == "sqs"
        else ("bootstrap_servers",)
    )
    for name in needed:
        if not getattr(args, name):
            parser.error(f"--{name.replace('_', '-')} (or {ENV[name]}) is required")
    return args


async def serve(args: argparse.Namespace, stop: asyncio.Event) -> None:
    clock = SystemClock()
    responder: SqsResponder | KafkaResponder
    if args.lane == "sqs":
        async with sqs_client(args.endpoint_url, args.region) as sqs:
            responder = SqsResponder(
                sqs, args.request_queue_url, args.response_queue_url, clock, args.reference
            )
            print(f"responder: answering {args.request_queue_url}", flush=True)
            await run_until(responder.run(stop), stop)
        return
    async with kafka_clients(args.bootstrap_servers, args.request_topic, args.group) as (c, p):
        responder = KafkaResponder(c, p, args.response_topic, clock, args.reference)
        print(f"responder: answering {args.request_topic} on {args.bootstrap_servers}", flush=True)
        await run_until(responder.run(stop), stop)


async def run_until(work: Any, stop: asyncio.Event) -> None:
    """Run ``work`` until ``stop`` is set (a long poll in progress is cancelled)."""
    task = asyncio.ensure_future(work)
    stopped = asyncio.ensure_future(stop.wait())
    await asyncio.wait({task, stopped}, return_when=asyncio.FIRST_COMPLETED)
    for pending in (task, stopped):
        pending.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task  # a failure of the loop itself is raised here


def run_process(
    serve_until: Callable[[argparse.Namespace, asyncio.Event], Awaitable[None]],
    args: argparse.Namespace,
) -> int:
    """Run ``serve_until(args, stop)`` until SIGTERM or SIGINT sets ``stop`` (the responder's
    and the csv provider's process)."""

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        await serve_until(args, stop)

    asyncio.run(run())
    return 0


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    return run_process(serve, _arguments(sys.argv[1:] if argv is None else argv))


if __name__ == "__main__":
    sys.exit(main())
