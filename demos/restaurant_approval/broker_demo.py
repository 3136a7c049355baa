"""``make demo-sqs`` / ``make demo-kafka``: the restaurant demo with its decisions over a broker.

The same pipeline and REST submits as ``make demo``, but nobody completes the awaits over REST:
the coordinator runs with ``TPF_AWAIT_TRANSPORT=sqs|kafka`` (the variables are in
:data:`demos.restaurant_approval.brokers.COORDINATOR_ENV`), publishes each await request to the
request queue/topic, and a separate "restaurant" process (``responder.py``) answers on the
response queue/topic. The demo starts what it needs (moto's SQS or Tansu on free loopback
ports, or uses the operator's broker: see :mod:`demos.restaurant_approval.brokers`), submits
an order the restaurant accepts and one it declines, waits for both results, checks
``APPROVED`` and ``DECLINED``, stops everything, and exits 0 when both are right.

When the answer does not come, it says which half is missing: the request never reached the
responder (the coordinator did not dispatch it), or the responder answered and the coordinator
did not apply the completion.

Run: ``python -m demos.restaurant_approval.broker_demo sqs|kafka``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from demos.restaurant_approval import flows
from demos.restaurant_approval.brokers import LANES, Lane, broker_lane
from demos.restaurant_approval.server import ROOT, DemoServer
from tpf.client import RestClient
from tpf.config import load_settings

ORDERS = (
    ("Accepted order", "Ada Lovelace", "Cafe TPF", "APPROVED"),
    ("Declined order", "Grace Hopper", "Bistro Queue", "DECLINED"),
)
NOT_WIRED = "the await channels are not wired into this build yet"


class DemoFailure(Exception):
    """The demo cannot go on; the message says why and where to look."""


class Responder:
    """The restaurant process, its log in the state directory."""

    def __init__(self, lane: Lane, state_dir: Path) -> None:
        self.lane = lane
        self.log_path = state_dir / f"responder-{lane.name}.log"
        self.process: subprocess.Popen[str] | None = None

    def start(self) -> None:
        log = open(self.log_path, "w")  # noqa: SIM115 - the responder writes it until stop
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "demos.restaurant_approval.responder",
                *self.lane.responder_args(),
            ],
            cwd=ROOT,
            env={**os.environ, **self.lane.extra_env, "PYTHONPATH": str(ROOT)},
            stdout=log,
            stderr=subprocess.STDOUT,
            text=True,
        )
        log.close()

    def answered(self, interaction_id: str) -> bool:
        return f"answered {interaction_id}" in self.log()

    def log(self) -> str:
        return self.log_path.read_text() if self.log_path.exists() else ""

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=15)


def wait_status(
    client: RestClient, execution_id: str, wanted: set[str], timeout_s: float
) -> dict[str, Any]:
    """Long-poll until the status is in ``wanted`` or ``timeout_s`` passes; the last status."""
    deadline = time.monotonic() + timeout_s
    while True:
        left_ms = int(max(0.0, deadline - time.monotonic()) * 1000)
        status: dict[str, Any] = client.status(execution_id, wait_ms=min(5_000, left_ms))
        if status["status"] in wanted or time.monotonic() >= deadline:
            return status


def run_order(
    client: RestClient,
    lane: Lane,
    responder: Responder,
    order: tuple[str, str, str, str],
    timeout_s: float,
) -> str:
    label, customer, restaurant, _ = order
    flows.say(f"\n== {label} (decision over {lane.name})")
    eid = flows.submit_order(client, customer, restaurant, "Margherita Pizza, Sparkling Water")
    parked = wait_status(client, eid, {"WAITING_EXTERNAL", *flows.TERMINAL}, timeout_s)
    flows.say(f"  status {parked['status']} at step {parked['stepIndex']}")
    final = wait_status(client, eid, flows.TERMINAL, timeout_s)
    if final["status"] not in flows.TERMINAL:
        raise DemoFailure(diagnose(client, lane, responder, eid, timeout_s))
    result = flows.outcome(client, eid)
    flows.say(f"  status {final['status']} version {final['version']}: outcome {result}")
    return result


def diagnose(
    client: RestClient, lane: Lane, responder: Responder, eid: str, timeout_s: float
) -> str:
    """Which half of the broker round trip did not happen."""
    interaction = flows.pending_for(client, eid)["interactionId"]
    if not responder.answered(interaction):
        return (
            f"no await request for interaction {interaction} reached the responder on "
            f"{lane.request_channel} within {timeout_s:.0f} s: the coordinator did not dispatch "
            f"it to the {lane.name} channel ({NOT_WIRED}?). Responder log: {responder.log_path}"
        )
    return (
        f"the responder answered interaction {interaction} on {lane.response_channel}, but the "
        f"coordinator did not apply the completion within {timeout_s:.0f} s ({NOT_WIRED}?)"
    )


def run(lane_name: str) -> int:
    base = load_settings({k: v for k, v in os.environ.items() if k in _BASE_VARIABLES})
    state_dir = Path(base.state.dir).resolve() / f"demo-{lane_name}"
    port = base.http.port  # 8081 unless TPF_HTTP_PORT says otherwise, as for `make demo`
    timeout_s = float(os.environ.get("BROKER_DEMO_TIMEOUT_S", "30"))
    with broker_lane(lane_name) as lane:
        where = "a local" if lane.local else "the configured"
        flows.say(
            f"tpf restaurant demo over {lane.name}: {where} broker; requests on "
            f"{lane.request_channel}, answers on {lane.response_channel}"
        )
        server = DemoServer(state_dir, port, extra_env=lane.coordinator_env())
        responder = Responder(lane, state_dir)
        try:
            server.start()
        except SystemExit as exc:
            raise DemoFailure(
                f"tpf serve did not start with TPF_AWAIT_TRANSPORT={lane.name} "
                f"({NOT_WIRED}?):\n{_tail(str(exc))}"
            ) from None
        try:
            responder.start()
            client = server.client()
            flows.prepare_release(client, server.state_dir / "build")
            results = [run_order(client, lane, responder, o, timeout_s) for o in ORDERS]
        finally:
            responder.stop()
            server.stop()
    approved, declined = results
    ok = approved == ORDERS[0][3] and declined == ORDERS[1][3]
    flows.say(f"\nresults: accepted order -> {approved}, declined order -> {declined}")
    flows.say(f"{lane_name} demo passed" if ok else f"{lane_name} demo FAILED")
    return 0 if ok else 1


_BASE_VARIABLES = ("TPF_STATE_DIR", "TPF_HTTP_PORT")


def _tail(text: str, lines: int = 25) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1 or args[0] not in LANES:
        print(f"usage: python -m demos.restaurant_approval.broker_demo {'|'.join(LANES)}")
        return 2
    try:
        return run(args[0])
    except DemoFailure as exc:
        flows.say(f"\n{args[0]} demo FAILED: {exc}")
        return 1


if __name__ == "__main__":
    sys.exit(main())
