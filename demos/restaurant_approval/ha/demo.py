"""``make demo-ha``: the recipe's container HA reference, in processes on one machine.

A local AWS (moto on a free 127.0.0.1 port), ``tpf bootstrap aws`` of the coordinator's file,
ONE coordinator (``tpf serve``) with the recipe's minimum configuration, including
``control-plane.require-remote-worker=true``, and its REST worker selection lines pointing at
ONE REST worker (``tpf worker --pipeline demos.restaurant_approval.pipeline:pipeline --protocol
rest``), the shared secret passed as ``env:TPF_WORKER_SECRET`` to both. The release is built,
registered and activated, the worker registers itself, and the accepted and declined orders of
``make demo`` run to ``APPROVED`` and ``DECLINED``; every step ran in the worker process (its log
says which). Then everything stops; exit status 0, or 1 with the reason.

Run: ``python -m demos.restaurant_approval.ha.demo``.
"""

from __future__ import annotations

import sys

from demos.restaurant_approval.demo import run_flow
from demos.restaurant_approval.flows import say
from demos.restaurant_approval.ha.processes import DemoFailure
from demos.restaurant_approval.ha.runner import bring_up, run_demo, transitions_run
from demos.restaurant_approval.ha.stack import HaStack


def body(stack: HaStack) -> None:
    _active, worker = bring_up(stack)
    client = stack.client()
    approved = run_flow(client, "Accepted order", "Ada Lovelace", "Cafe TPF", "accepted")
    declined = run_flow(client, "Declined order", "Grace Hopper", "Bistro Queue", "declined")
    ran = transitions_run(worker)
    say(f"\nresults: accepted order -> {approved}, declined order -> {declined}")
    say(f"the worker process ran {len(ran)} step(s); the coordinator hosts no pipeline code")
    if (approved, declined) != ("APPROVED", "DECLINED"):
        raise DemoFailure(f"expected APPROVED and DECLINED, got {approved} and {declined}")
    if not ran:
        raise DemoFailure(f"the worker's log shows no step it ran:\n{worker.tail()}")
    say("\n== Stop")
    status = worker.stop()
    drained = stack.wait_worker_state(worker, "DRAINING")
    say(f"worker stopped (SIGTERM: drain, then exit {status}); its record is {drained['state']}")
    status = stack.coordinator.stop()
    say(f"coordinator stopped (exit {status})")


def main() -> int:
    return run_demo(
        "demo-ha",
        "one coordinator and one REST worker on a local AWS (the recipe's HA shape)",
        body,
    )


if __name__ == "__main__":
    sys.exit(main())
