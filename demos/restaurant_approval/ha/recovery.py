"""``make demo-ha-recovery``: the coordinator SIGKILLed with parked executions; all finish.

The HA shape of ``make demo-ha``. Two orders are submitted and park on the restaurant's
decision; the coordinator is killed with SIGKILL and started again on the same configuration.
Its state is in DynamoDB (the local AWS outlived it), so both executions are still readable,
still ``WAITING_EXTERNAL``, their interactions still pending. The first is completed now and
ends ``APPROVED``. Then, as the original's container recovery script does, the worker is
restarted at an await boundary (SIGTERM, a new process at the same address): the second
order's decision resumes it on the new worker and it ends ``DECLINED``.

Run: ``python -m demos.restaurant_approval.ha.recovery``.
"""

from __future__ import annotations

import sys

from demos.restaurant_approval import flows
from demos.restaurant_approval.ha.processes import DemoFailure
from demos.restaurant_approval.ha.runner import WORKER_NAME, bring_up, run_demo, transitions_run
from demos.restaurant_approval.ha.stack import HaStack

say = flows.say
ORDERS = (
    ("Dorothy Vaughan", "Restart Bistro", "Gumbo", "accepted", "APPROVED"),
    ("Mary Jackson", "Worker Cafe", "Jambalaya", "declined", "DECLINED"),
)


def body(stack: HaStack) -> None:
    _active, worker = bring_up(stack)
    client = stack.client()

    say("\n== Park, then kill -9 the coordinator")
    parked = []
    for customer, restaurant, items, _decision, _expected in ORDERS:
        eid = flows.submit_order(client, customer, restaurant, items)
        status = flows.wait_for(client, eid, {"WAITING_EXTERNAL"})
        if status["status"] != "WAITING_EXTERNAL":
            raise DemoFailure(f"execution {eid} did not park: {status}")
        parked.append(eid)
    pid = stack.coordinator.pid
    stack.coordinator.kill()
    say(f"  coordinator (pid {pid}) killed with SIGKILL with {len(parked)} executions parked")
    stack.start_coordinator()
    say(f"  coordinator restarted (pid {stack.coordinator.pid}) on the same DynamoDB state")
    for eid in parked:
        status = client.status(eid)
        if status["status"] != "WAITING_EXTERNAL":
            raise DemoFailure(f"execution {eid} is {status['status']} after the restart")
        say(f"  execution {eid} still {status['status']} at step {status['stepIndex']}")

    results = [finish(stack, parked[0], ORDERS[0][3])]

    say("\n== Restart the worker at the await boundary")
    code = worker.stop()
    say(f"  worker {worker.worker_id} (pid {worker.pid}) stopped (exit {code})")
    replacement = stack.worker(WORKER_NAME)
    record = stack.start_worker(replacement)
    say(
        f"  worker {record['workerId']} (pid {replacement.pid}) on {replacement.url}: "
        f"{record['state']}"
    )
    results.append(finish(stack, parked[1], ORDERS[1][3]))
    if not transitions_run(replacement, parked[1]):
        raise DemoFailure("the second order's resumed transition did not run on the new worker")
    say(f"  the resumed transition of {parked[1]} ran on the new worker (pid {replacement.pid})")

    expected = [order[4] for order in ORDERS]
    say(f"\nresults after the restarts: {', '.join(results)}")
    if results != expected:
        raise DemoFailure(f"expected {expected}, got {results}")


def finish(stack: HaStack, eid: str, decision: str) -> str:
    client = stack.client()
    flows.complete(client, flows.pending_for(client, eid), decision)
    final = flows.wait_for(client, eid, flows.TERMINAL)
    result = flows.outcome(client, eid)
    say(f"  execution {eid} {final['status']}: outcome {result}")
    return result


def main() -> int:
    return run_demo(
        "demo-ha-recovery", "the coordinator SIGKILLed with parked executions; all finish", body
    )


if __name__ == "__main__":
    sys.exit(main())
