"""Exhaustive crash testing: run a scenario once clean, then crashed at every point it passes.

A :class:`Scenario` is a list of steps, each an ``async (env, ids) -> None`` that a client could
retry: when the coordinator dies during a step, the runner restarts it (or lets another owner
take over), lets the dead one's leases expire, and runs the step again, as a client whose request
got no answer would. :func:`run` drives one scenario under a crash plan and returns what is left
in the store; :func:`check` compares such an :class:`Outcome` with the clean run's and raises
:class:`CrashCheckFailed` listing every guarantee that did not hold:

- every execution ends with the clean run's status and result;
- its history is the clean run's, entry kind by entry kind (each committed transition applied
  once: none lost, none twice), with no interaction resumed twice. A park that its answer
  overtook counts as the park: a transition re-run after a crash that finds its interaction
  already answered (a held early answer admitted meanwhile) resumes without parking
  (:meth:`~tpf.actors.commits.ExecutionCommits.park`), so ``PARKED, RESUMED`` and a lone ``RESUMED``
  of the same interaction are the same history;
- every completed interaction is applied and every interaction dispatched (at least once)
  while it was pending: one answered or timed out before its request was published (a held
  early answer admitted as it appeared) has left the dispatch outbox, which holds pending
  interactions only (:meth:`~tpf.stores.base.AwaitStore.find_undispatched`), so after a crash
  its request is not published any more; its answer is in, and it must be applied;
- every DLQ envelope the history commits (a ``FAILED`` or ``AWAIT_TIMED_OUT`` entry) was
  published at least once, and no outbox mark is left behind.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from tpf.core.events import step_and_attempt
from tpf.core.records import AwaitInteraction, DispatchState, ExecutionRecord, InteractionStatus
from tpf.testing.env import TestEnv
from tpf.testing.life import CoordinatorCrashed

# Scenario key -> execution id; keys with a "/" are a scenario's own notes (an interaction id).
Ids = dict[str, str]
Step = Callable[[TestEnv, Ids], Awaitable[None]]
Recovery = Literal["restart", "takeover"]
Crash = tuple[str, int]  # (point, nth pass counted from the arming)
_DLQ_KINDS = frozenset({"FAILED", "AWAIT_TIMED_OUT"})


class CrashCheckFailed(AssertionError):
    """A crash run broke a guarantee; ``problems`` says which, one line each."""

    def __init__(self, label: str, problems: list[str]) -> None:
        super().__init__(f"{label}:\n  " + "\n  ".join(problems))
        self.problems = problems


@dataclass
class Scenario:
    steps: Sequence[Step]


@dataclass
class Outcome:
    """What a run left: the executions (by scenario key), their interactions, the DLQ."""

    records: dict[str, ExecutionRecord]
    interactions: dict[str, list[AwaitInteraction]]
    published: list[tuple[str, int | None, int | None]]  # (key, step, attempt) of each envelope
    seen: Counter[str]
    crashes: list[str] = field(default_factory=list)
    recovery_seen: Counter[str] = field(default_factory=Counter)  # passed after the 1st crash


async def run(
    make_env: Callable[[], TestEnv],
    scenario: Scenario,
    plan: Sequence[Crash] = (),
    *,
    recovery: Recovery = "restart",
) -> Outcome:
    """Run ``scenario`` in a fresh env, crashing at each entry of ``plan`` in turn (the next one
    armed on the coordinator that recovers from the previous crash)."""
    pending = list(plan)
    crashes: list[str] = []
    ids: Ids = {}
    recovery_start: Counter[str] | None = None
    env = make_env()
    async with env:
        lease_ms = env.settings.execution.lease_ms
        if pending:
            env.crash_at(*pending.pop(0))
        for step in scenario.steps:
            while True:
                try:
                    if env.crashed:
                        raise CoordinatorCrashed(env.crashed_at)
                    await step(env, ids)
                    if env.crashed:
                        raise CoordinatorCrashed(env.crashed_at)
                    break
                except CoordinatorCrashed:
                    crashes.append(env.crashed_at or "?")
                    if recovery_start is None:
                        recovery_start = Counter(env.crash_points_seen)
                    if pending:
                        env.crash_at(*pending.pop(0))  # armed on the coordinator to come
                    crashes.extend(await _recover(env, recovery, lease_ms))
        await env.run_until_idle()
        records: dict[str, ExecutionRecord] = {}
        interactions: dict[str, list[AwaitInteraction]] = {}
        executions = {key: eid for key, eid in ids.items() if "/" not in key}
        for key, eid in executions.items():
            records[key] = await env.status(eid)
            interactions[key] = await env.interactions(eid)
        by_id = {eid: key for key, eid in executions.items()}
    published = [
        (by_id.get(e.execution_id, e.execution_id), *step_and_attempt(e.transition_key))
        for e in env.dead_letters
    ]
    seen = env.crash_points_seen
    after = seen - recovery_start if recovery_start is not None else Counter[str]()
    return Outcome(records, interactions, published, Counter(seen), crashes, after)


async def _recover(env: TestEnv, recovery: Recovery, lease_ms: int) -> list[str]:
    """Bring a coordinator back and let the dead one's leases expire; again if it dies too.
    The points the recovering coordinators died at."""
    died: list[str] = []
    while True:
        try:
            if recovery == "takeover":
                await env.takeover()
            else:
                await env.restart()
            await env.advance(lease_ms + 1)
            return died
        except CoordinatorCrashed:
            died.append(env.crashed_at or "?")


def check(outcome: Outcome, reference: Outcome, label: str = "crash run") -> None:
    """Raise :class:`CrashCheckFailed` unless ``outcome`` keeps every guarantee against the
    clean ``reference`` run (which is checked by the same rules)."""
    problems: list[str] = []
    for key, want in reference.records.items():
        got = outcome.records.get(key)
        if got is None:
            problems.append(f"{key}: the execution is missing")
            continue
        if (got.status, got.result_payload) != (want.status, want.result_payload):
            problems.append(
                f"{key}: ended {got.status.value} {got.result_payload!r}, "
                f"the clean run {want.status.value} {want.result_payload!r}"
            )
        kinds, want_kinds = _kinds(got), _kinds(want)
        if kinds != want_kinds:
            problems.append(f"{key}: history {kinds}, the clean run's {want_kinds}")
        resumed = Counter(e.interaction_id for e in got.history if e.kind == "RESUMED")
        twice = sorted(str(i) for i, n in resumed.items() if n > 1)
        if twice:
            problems.append(f"{key}: interactions resumed more than once: {twice}")
        if got.dead_letters:
            problems.append(f"{key}: {len(got.dead_letters)} DLQ envelope(s) left unpublished")
        for interaction in outcome.interactions.get(key, []):
            problems.extend(_interaction_problems(key, interaction))
    problems.extend(_dlq_problems(outcome))
    if problems:
        raise CrashCheckFailed(label, problems)


def _kinds(record: ExecutionRecord) -> list[str]:
    """The history's entry kinds, each ``PARKED`` directly followed by the ``RESUMED`` of its
    interaction left out (the same history as resuming without parking)."""
    history = record.history
    return [
        entry.kind
        for entry, after in zip(history, [*history[1:], None], strict=True)
        if not (
            entry.kind == "PARKED"
            and after is not None
            and after.kind == "RESUMED"
            and after.interaction_id == entry.interaction_id
        )
    ]


def _interaction_problems(key: str, interaction: AwaitInteraction) -> list[str]:
    found = []
    name = f"{key}: interaction {interaction.interaction_id}"
    if interaction.pending and interaction.dispatch_state is not DispatchState.DISPATCHED:
        found.append(f"{name} was never dispatched")
    closed = interaction.status in (InteractionStatus.COMPLETED, InteractionStatus.TIMED_OUT)
    if closed and not interaction.applied:
        found.append(f"{name} is {interaction.status.value} but was never applied")
    return found


def _dlq_problems(outcome: Outcome) -> list[str]:
    published = set(outcome.published)
    found = []
    for key, record in outcome.records.items():
        for entry in record.history:
            if entry.kind in _DLQ_KINDS and (key, entry.step_index, entry.attempt) not in published:
                found.append(
                    f"{key}: the DLQ envelope of its {entry.kind} (step {entry.step_index}, "
                    f"attempt {entry.attempt}) was never published"
                )
    return found


def crash_plans(seen: Counter[str]) -> list[Crash]:
    """Every pass of every point a clean run made: ``(point, nth)`` for each."""
    return [(point, n) for point in sorted(seen) for n in range(1, seen[point] + 1)]


__all__ = ["CrashCheckFailed", "Outcome", "Scenario", "check", "crash_plans", "run"]
