"""What every HA demo does around its own story: bring the topology up, tear it down, report.

:func:`run_demo` makes a temporary state directory, starts the local AWS, runs the demo's body
on an :class:`~demos.restaurant_approval.ha.stack.HaStack` and stops every child however the
body ends. It exits 0 when the body returns; otherwise it prints the reason and where the logs
are (the state directory is then kept), and exits 1. :func:`bring_up` is the recipe's startup
checklist: bootstrap, coordinator, release registered and activated, one REST worker healthy.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from demos.restaurant_approval.flows import say
from demos.restaurant_approval.ha.processes import DemoFailure, exit_on_sigterm
from demos.restaurant_approval.ha.stack import RESTAURANT, HaStack, Identity, Worker, local_aws

WORKER_NAME = "restaurant-rest-worker"  # the original container demo's worker (its log name here)


def run_demo(
    name: str,
    title: str,
    body: Callable[[HaStack], None],
    changes: Mapping[str, tuple[str, str]] | None = None,
    identity: Identity = RESTAURANT,
) -> int:
    """Run ``body`` on a fresh stack (with ``changes`` to the recipe's values, as
    ``{key: (value, why)}``); the exit status (0 passed, 1 failed)."""
    exit_on_sigterm()
    state_dir = Path(tempfile.mkdtemp(prefix=f"tpf-{name}-"))
    say(f"tpf {name}: {title}")
    say(f"state and logs in {state_dir}")
    stack: HaStack | None = None
    try:
        with local_aws() as endpoint:
            say(f"local AWS (moto, as tpf dev aws runs it) on {endpoint}")
            stack = HaStack(state_dir, endpoint, changes=changes, identity=identity)
            try:
                body(stack)
            finally:
                stack.stop_all()
                # Each process logs its AWS requests by operation as it stops: what a run cost.
                for line in stack.aws_summaries():
                    say(line)
    except (DemoFailure, AssertionError) as exc:
        say(f"\n{name} FAILED: {exc}")
        if stack is not None:
            say(f"logs:\n{stack.logs()}")
        return 1
    shutil.rmtree(state_dir, ignore_errors=True)
    say(f"{name} passed")
    return 0


def bring_up(
    stack: HaStack,
    ref: str | None = None,
    worker_env: Mapping[str, str] | None = None,
    worker_name: str = WORKER_NAME,
) -> tuple[dict[str, Any], Worker]:
    """Bootstrap, start the coordinator, release ``ref``, start its worker: (release, worker)."""
    say("\n== Start the HA shape")
    say("coordinator configuration: the recipe's minimum block and REST worker lines, with")
    for key, (value, why) in stack.changes.items():
        say(f"  {key}={value}  ({why})")
    say("  and the dynamo/sqs/s3 endpoint-override lines of the local AWS")
    created = stack.bootstrap()
    say(f"tpf bootstrap aws: {len(created)} resource(s) created")
    for line in created:
        say(f"  {line}")
    stack.start_coordinator()
    say(f"coordinator (tpf serve, pid {stack.coordinator.pid}) ready on {stack.base_url}")
    for line in stack.config.read_text().splitlines():
        if "require-remote-worker" in line or "worker.rest." in line:
            say(f"  {line}")
    active = stack.release(ref)
    say(
        f"release {active['releaseVersion']} {active['status']} "
        f"(contract {active['contractVersion']})"
    )
    worker = stack.worker(worker_name, ref, extra_env=worker_env)
    record = stack.start_worker(worker)
    say(
        f"worker {record['workerId']} (tpf worker, pid {worker.pid}) on {worker.url}: "
        f"record {record['state']}, release {record['releaseVersion']}"
    )
    return active, worker


def transitions_run(worker: Worker, execution_id: str | None = None) -> list[str]:
    """The worker's ``step.start`` log lines (of one execution, when given): the steps it ran."""
    return [
        line
        for line in worker.log().splitlines()
        if "step.start" in line and (execution_id is None or f"executionId={execution_id}" in line)
    ]
