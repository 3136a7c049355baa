"""The awaits supervisor: admits interaction completions from every channel the same way.

REST today, SQS and Kafka channels later, all call :meth:`Awaits.complete`:

- first writer wins: a completion of a ``COMPLETED`` interaction with the same response
  (compared canonically) answers ``duplicate=True`` with the stored record, one with a different
  response is refused (409 ``INTERACTION_ALREADY_COMPLETED``, saying who completed it and when);
  both re-send the resume, so a crash between completion and resume heals;
- the response is validated against the await's output type before anything is stored;
- a completion of a timed-out, failed or cancelled interaction is refused, and one that arrives
  after the deadline times the interaction out (and so fails its execution) instead of leaving it
  parked, which fixes the original's edge case;
- a channel completion whose interaction is not stored yet is *held* and retried on each
  ``tick()`` for ``hold_ms`` (the original's SQS poller dropped it); the hold is a store row
  (:class:`~tpf.stores.base.HeldCompletionStore`), written before :meth:`Awaits.complete`
  returns, so a channel acknowledges its message only once the hold is durable and a restart
  keeps it. Once its interaction appears it is admitted like any other and the hold deleted;
  one refused then (invalid, conflicting, closed), or whose interaction never appears (an
  unknown tenant or id), is parked on the dead-letter queue/topic of the channel that read it
  with the reason (``not_found``, ``terminal``, ...) and counted in
  ``tpf_await_completion_dropped_total``, then deleted; if parking fails it is kept and tried
  again;
- ``tick()`` also re-applies resolved interactions whose execution never heard of them (the
  ``applied`` mark), the repair for a crash between the two writes;
- a completion whose execution no longer exists is refused with ``404 EXECUTION_NOT_FOUND``
  (see :mod:`tpf.stores.orphans`), never answered as a success.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from tpf.actors.applied_writes import mark_applied
from tpf.actors.context import EXECUTION, Engine
from tpf.actors.messages import Resolve
from tpf.actors.runtime import ActorSystem
from tpf.core import crash_points as cp
from tpf.core import events, responses
from tpf.core import interactions as inter
from tpf.core.errors import Conflict, NotFound, ValidationError
from tpf.core.events import log_event, log_timed_out
from tpf.core.items import ITEM_FINAL_STATUSES
from tpf.core.records import AwaitInteraction, HeldCompletion, InteractionStatus
from tpf.core.streams import budget_scope
from tpf.stores import orphans
from tpf.supervisors.leadership import AlwaysLeader, Leadership
from tpf.transports.awaits.consume import Origin, poison_reason

LOG = logging.getLogger("tpf.awaits")
DEFAULT_HOLD_MS = 60_000

# Checks a completion's response against the await step's declared output type; returns the
# plain value to store or raises ValidationError. ``None`` when no type is known (remote code).
ResponseValidator = Callable[[AwaitInteraction, Any], Any]


@dataclass(frozen=True)
class Completion:
    interaction: AwaitInteraction | None
    duplicate: bool = False
    held: bool = False


# Parks a held completion that will never be admitted on the dead-letter channel of the channel
# that read it, with (reason, detail); False if that failed (the hold is kept and retried).
DeadLetterHeld = Callable[[HeldCompletion, str, str], Awaitable[bool]]


async def _log_dropped(item: HeldCompletion, reason: str, detail: str) -> bool:
    LOG.warning("held completion for %s dropped (%s): %s", item.handle, reason, detail)
    return True


# With no hold known to this process, how often it still looks for holds in the store: ones
# another coordinator wrote before it died, or this one before a restart.
IDLE_HOLD_LOOK_MS = 10_000
INTERACTION, CORRELATION = "interaction", "correlation"  # HeldCompletion.handle_kind


class Awaits:
    def __init__(
        self,
        engine: Engine,
        system: ActorSystem,
        *,
        validator: ResponseValidator | None = None,
        hold_ms: int = DEFAULT_HOLD_MS,
        leadership: Leadership | None = None,
    ) -> None:
        self._engine = engine
        self._system = system
        self._validator = validator
        self._hold_ms = hold_ms
        # Holds as of this process's last look (the store is the truth): the metrics gauge, and
        # whether the next retry needs to look at all.
        self._held_count = 0
        self._next_look_ms = 0  # the first retry always looks: holds from before a restart
        self._leadership = leadership or AlwaysLeader()
        # Set by the await lane to its channels' dead-letter parking.
        self.dead_letter: DeadLetterHeld = _log_dropped

    def held(self) -> int:
        return self._held_count

    async def complete(
        self,
        tenant_id: str,
        *,
        interaction_id: str | None = None,
        correlation_id: str | None = None,
        response: Any,
        actor: str | None = None,
        hold_if_missing: bool = False,
        origin: Origin | None = None,
    ) -> Completion:
        if not interaction_id and not correlation_id:
            raise ValidationError("interactionId, correlationId, or resumeToken is required")
        found, remembered = await self._lookup(tenant_id, interaction_id, correlation_id)
        if found is None:
            if not hold_if_missing:
                handle = interaction_id or correlation_id
                raise NotFound(f"Await interaction not found: {handle}")
            now = self._engine.clock.now_ms()
            kind, handle = (
                (INTERACTION, interaction_id) if interaction_id else (CORRELATION, correlation_id)
            )
            assert handle is not None
            hold = HeldCompletion(
                tenant_id=tenant_id,
                handle_kind=kind,
                handle=handle,
                response=response,
                actor=actor,
                held_at_epoch_ms=now,
                expires_at_epoch_ms=now + self._hold_ms,
                channel=origin.channel if origin else None,
                body=origin.body.decode(errors="replace") if origin else None,
            )
            if await self._engine.stores.held.hold(hold):
                self._held_count += 1
            cp.crash_point(cp.COMPLETION_HOLD)
            self._engine.counters["completions_held"] += 1
            return Completion(None, held=True)
        return await self._admit(found, response, actor, remembered=remembered)

    async def _lookup(
        self, tenant_id: str, interaction_id: str | None, correlation_id: str | None
    ) -> tuple[AwaitInteraction | None, bool]:
        """The interaction, and whether it is this process's remembered copy."""
        awaits = self._engine.stores.awaits
        if interaction_id:
            # A copy this process just parked on or dispatched is tried first (its
            # compare-and-set fences).
            recent = await self._engine.recent_interactions.take_after_dispatch(
                tenant_id, interaction_id
            )
            if recent is not None:
                return recent, True
            return await awaits.get(tenant_id, interaction_id), False
        assert correlation_id is not None
        return await awaits.get_by_correlation(tenant_id, correlation_id), False

    async def _admit(
        self,
        interaction: AwaitInteraction,
        response: Any,
        actor: str | None,
        *,
        remembered: bool = False,
    ) -> Completion:
        """Admit ``response`` on ``interaction`` (``remembered``: this process's parked copy,
        not read from the store, so possibly stale)."""
        engine = self._engine
        awaits = engine.stores.awaits
        # An execution that is gone will never resume: refuse rather than answer COMPLETED.
        await orphans.require_execution(
            engine.stores, interaction, engine.clock.now_ms(), engine.settings.execution.ttl_ms
        )
        value = response
        if self._validator is not None and interaction.pending:
            try:
                value = self._validator(interaction, response)
            except ValidationError:
                if not remembered:
                    raise
                # Refused on a remembered copy, which may be stale (cancelled since, say):
                # the stored interaction decides, and the refusal is the one it gives.
                fresh = await awaits.get(interaction.tenant_id, interaction.interaction_id)
                if fresh is None:
                    raise NotFound(
                        f"Await interaction not found: {interaction.interaction_id}"
                    ) from None
                return await self._admit(fresh, response, actor)
        current: AwaitInteraction | None = interaction
        while current is not None:
            if current.status is InteractionStatus.COMPLETED:
                if not current.applied:
                    await self._resume(current)
                if not responses.same_response(current.response_payload, value):
                    engine.counters["completions_conflicting"] += 1
                    raise responses.already_completed(current)
                engine.counters["completions_duplicate"] += 1
                return Completion(current, duplicate=True)
            if current.status is InteractionStatus.CANCELLED:
                # An operator cancelled its execution: a state conflict, not bad input.
                raise Conflict(
                    f"Await interaction {current.interaction_id} was cancelled with its "
                    "execution and can no longer be completed",
                    code="INTERACTION_CANCELLED",
                )
            if not current.pending:
                raise ValidationError(
                    f"Await interaction {current.interaction_id} is {current.status.value} "
                    "and can no longer be completed",
                    code="INTERACTION_CLOSED",
                )
            now = engine.clock.now_ms()
            if current.deadline_epoch_ms <= now:
                timed_out = await awaits.compare_and_set(
                    inter.time_out(current, now), current.version
                )
                if timed_out is not None:
                    cp.crash_point(cp.TIMEOUT_WRITE)
                    engine.counters["await_timed_out"] += 1
                    log_timed_out(LOG, timed_out, "late-completion")
                    engine.feed.interaction_changed(timed_out)
                    await self._resume(timed_out)
                    raise ValidationError(
                        f"Await interaction {current.interaction_id} passed its deadline and "
                        "timed out",
                        code="INTERACTION_CLOSED",
                    )
            else:
                done = await awaits.compare_and_set(
                    inter.complete(current, now, value, actor), current.version
                )
                if done is not None:
                    cp.crash_point(cp.COMPLETION_ACCEPT)  # accepted, not applied
                    engine.counters["completions"] += 1
                    labels = (done.step_id, done.transport_type)
                    engine.await_metrics.admitted[labels] += 1
                    engine.await_metrics.observe_latency(*labels, now - done.created_at_epoch_ms)
                    log_event(
                        LOG,
                        logging.DEBUG,
                        events.COMPLETED,
                        done.tenant_id,
                        done.execution_id,
                        done.step_index,
                        None,  # an interaction does not record its execution's attempt
                        stepId=done.step_id,
                        interactionId=done.interaction_id,
                        actor=done.actor,
                    )
                    engine.feed.interaction_changed(done)
                    await self._resume(done)
                    return Completion(done)
            # Lost a race with another writer: look again and answer from what won.
            current = await awaits.get(current.tenant_id, current.interaction_id)
        raise NotFound(f"Await interaction not found: {interaction.interaction_id}")

    async def _resume(self, interaction: AwaitInteraction) -> None:
        if self._engine.item_answered(interaction):
            return
        self._engine.resuming(interaction.tenant_id, interaction.execution_id)
        await self._system.tell(
            EXECUTION, (interaction.tenant_id, interaction.execution_id), Resolve(interaction)
        )

    async def tick(self) -> int:
        return await self.retry_held() + await self.repair_unapplied()

    async def retry_held(self) -> int:
        """Admit held completions whose interaction has appeared (drop expired holds)."""
        engine = self._engine
        now = engine.clock.now_ms()
        if self._held_count == 0 and now < self._next_look_ms:
            return 0  # none known: look again later rather than query the store every second
        self._next_look_ms = now + IDLE_HOLD_LOOK_MS
        store = engine.stores.held
        admitted = kept = 0
        for item in await store.list(engine.settings.sweeper.limit):
            by_id = item.handle_kind == INTERACTION
            found, remembered = await self._lookup(
                item.tenant_id, item.handle if by_id else None, None if by_id else item.handle
            )
            refusal: tuple[str, str] | None = None
            if found is not None:
                try:
                    await self._admit(found, item.response, item.actor, remembered=remembered)
                    admitted += 1
                except (ValidationError, NotFound, Conflict) as exc:
                    refusal = (poison_reason(exc) or "unknown", str(exc))
            elif item.expires_at_epoch_ms > now:
                kept += 1
                continue
            else:
                refusal = (
                    "not_found",
                    f"no interaction {item.handle} of tenant {item.tenant_id} appeared within "
                    f"{self._hold_ms} ms",
                )
            if refusal is not None:
                if not await self.dead_letter(item, *refusal):
                    kept += 1  # not parked: kept, parked on a later pass
                    continue
                engine.counters["completions_dropped"] += 1
            # Admitted (durably) or parked: only now may the hold go.
            await store.release(item.tenant_id, item.handle_kind, item.handle)
        self._held_count = kept
        return admitted

    async def repair_unapplied(self) -> int:
        """A sweep: re-send the resolution of interactions their execution never applied."""
        if not await self._leadership.is_leader():
            return 0  # a sweep: the elected coordinator does it
        engine = self._engine
        unapplied = await engine.stores.awaits.find_unapplied(engine.settings.sweeper.limit)
        for interaction in unapplied:
            if interaction.item_index is not None and await self._item_settled(interaction):
                continue
            await self._resume(interaction)
        return 0  # resends are not progress by themselves; don't spin the loop on them

    async def _item_settled(self, interaction: AwaitInteraction) -> bool:
        """Mark applied an item's interaction whose item is final already (its run died between
        the item's write and this mark, and no later run looks at a finished item again), and
        free its admission slot; whether it was. Left unapplied, it would be re-sent on every
        sweep, and a pile of them would fill the sweep's limit before any real repair."""
        engine = self._engine
        assert interaction.item_index is not None
        item = await engine.stores.items.get(
            interaction.tenant_id, interaction.execution_id, interaction.item_index
        )
        if item is None or item.status not in ITEM_FINAL_STATUSES:
            return False
        if item.interaction_id not in (None, interaction.interaction_id):
            return False  # the item moved on to another interaction: not this one's answer
        await mark_applied(engine.stores.awaits, interaction, engine.clock)
        if engine.budget is not None:
            record = await engine.stores.executions.get(
                interaction.tenant_id, interaction.execution_id, engine.clock.now_ms()
            )
            if record is not None:
                scope = budget_scope(record.pipeline_id, interaction)
                await engine.budget.release(scope, interaction.interaction_id)
        return True
