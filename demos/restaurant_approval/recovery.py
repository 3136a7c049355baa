"""The recovery demo: an execution parked on its await survives ``kill -9`` of the coordinator.

An order is submitted and parks on the restaurant's decision; the one-process coordinator
(SQLite) is killed with SIGKILL and started again on the same state directory; the execution's
status is still readable and parked, its interaction still pending, and completing it now
finishes the order ``APPROVED``.

Run: ``python -m demos.restaurant_approval.recovery`` (state in ``TPF_STATE_DIR``/recovery).
"""

from __future__ import annotations

import sys
from pathlib import Path

from demos.restaurant_approval import flows
from demos.restaurant_approval.server import DemoServer
from tpf.config import load_settings


def main() -> int:
    settings = load_settings()
    server = DemoServer(Path(settings.state.dir).resolve() / "recovery", settings.http.port)
    flows.say(f"tpf recovery demo: tpf serve on {server.base_url}")
    server.start()
    try:
        client = server.client()
        flows.prepare_release(client, server.state_dir / "build")
        flows.say("\n== Park, then kill -9")
        eid = flows.submit_order(client, "Dorothy Vaughan", "Restart Bistro", "Gumbo")
        flows.wait_for(client, eid, {"WAITING_EXTERNAL"})
        server.kill()
        flows.say("  coordinator killed with SIGKILL")
        server.start()
        flows.say("  coordinator restarted on the same SQLite state")
        status = client.status(eid)
        assert status["status"] == "WAITING_EXTERNAL", status
        flows.say(f"  execution {eid} still {status['status']} at step {status['stepIndex']}")
        flows.complete(client, flows.pending_for(client, eid), "accepted")
        flows.wait_for(client, eid, flows.TERMINAL)
        result = flows.outcome(client, eid)
    finally:
        server.stop()
    flows.say(f"\nresult after the restart: {result}")
    ok = result == "APPROVED"
    flows.say("recovery demo passed" if ok else "recovery demo FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
