"""``make demo``: the restaurant approval flow over REST, end to end, on the SQLite default.

It plays the operator and two restaurants against a real ``tpf serve``: start the coordinator
with the restaurant pipeline as its local worker, build the release (``tpf release build``),
register and activate it, register the worker, submit an order the restaurant accepts and one
it declines (the original's JSON: payload envelopes with Java type ids), complete both awaits,
check the outcomes ``APPROVED`` and ``DECLINED``, and stop the server. Exit status 0 when both
outcomes are right.

State lives under ``TPF_STATE_DIR`` (default ``.tpf/``); the port is ``TPF_HTTP_PORT`` (default
8081, as in the original).

Run: ``python -m demos.restaurant_approval.demo``.
"""

from __future__ import annotations

import sys
from pathlib import Path

from demos.restaurant_approval import flows
from demos.restaurant_approval.server import DemoServer
from tpf.client import RestClient
from tpf.config import load_settings


def run_flow(client: RestClient, label: str, customer: str, restaurant: str, decision: str) -> str:
    flows.say(f"\n== {label}")
    eid = flows.submit_order(client, customer, restaurant, "Margherita Pizza, Sparkling Water")
    parked = flows.wait_for(client, eid, {"WAITING_EXTERNAL"})
    flows.say(f"  status {parked['status']} at step {parked['stepIndex']}")
    interaction = flows.pending_for(client, eid)
    flows.say(f"  pending interaction {interaction['interactionId']} ({interaction['stepId']})")
    flows.complete(client, interaction, decision)
    final = flows.wait_for(client, eid, flows.TERMINAL)
    result = flows.outcome(client, eid)
    flows.say(f"  status {final['status']} version {final['version']}: outcome {result}")
    return result


def main() -> int:
    settings = load_settings()
    server = DemoServer(Path(settings.state.dir).resolve(), settings.http.port)
    flows.say(f"tpf restaurant demo: tpf serve on {server.base_url}, state in {server.state_dir}")
    server.start()
    try:
        client = server.client()
        flows.prepare_release(client, server.state_dir / "build")
        approved = run_flow(client, "Accepted order", "Ada Lovelace", "Cafe TPF", "accepted")
        declined = run_flow(client, "Declined order", "Grace Hopper", "Bistro Queue", "declined")
    finally:
        server.stop()
    ok = approved == "APPROVED" and declined == "DECLINED"
    flows.say(f"\nresults: accepted order -> {approved}, declined order -> {declined}")
    flows.say("demo passed" if ok else "demo FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
