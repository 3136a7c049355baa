"""The await dispatcher: publishes parked interactions' requests from the dispatch outbox.

An interaction whose channel publishes (SQS, Kafka) is stored ``CREATED`` by the park
(:func:`tpf.core.interactions.into_outbox`); this supervisor builds its dispatch envelope
(spec §4.7, with a signed resume token when a secret is configured), hands it to the channel
and only then marks the interaction ``DISPATCHED``. A crash between the park commit and the
publish, or a publish that fails, leaves it in the outbox for the next pass: **dispatch is
at-least-once**, and a consumer dedupes on ``interactionId`` (a crash between the publish and
the mark publishes it twice).

Two kinds of work, as for dead letters (:mod:`tpf.supervisors.dead_letters`):

- *own* interactions, stored by this process's parks, are published at once from memory (the
  execution actor hands each over right after storing it; no index query);
- *orphans*, left in the outbox by a coordinator that died (or by this one before a restart, or
  after a failed publish), are found with :meth:`~tpf.stores.base.AwaitStore.find_undispatched`,
  once older than a grace period (the lease length when coordinators share DynamoDB, so their
  owner has had its chance; zero for the embedded stores) and, with leadership, by the leader.

Which channel an interaction goes to is the coordinator's choice (the authored transport or the
operator's override), given as ``resolve_channel``; an interaction whose channel does not
publish (REST) or is not configured any more is marked dispatched without a publish, so it
leaves the outbox and the pending-interactions API serves it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from tpf.actors.context import Engine
from tpf.core import crash_points as cp
from tpf.core import resume_tokens
from tpf.core.errors import TpfError
from tpf.core.records import AwaitInteraction
from tpf.supervisors.leadership import AlwaysLeader, Leadership
from tpf.transports.awaits.envelopes import dispatch_envelope
from tpf.transports.base import AwaitChannel

LOG = logging.getLogger("tpf.awaits.dispatch")
_Key = tuple[str, str]  # tenant, interaction id

ResolveChannel = Callable[[AwaitInteraction], AwaitChannel | None]
# The await step's declared input type id, for the envelope's ``inputType`` (the interaction
# records only its output type).
InputType = Callable[[AwaitInteraction], str | None]


def _key(interaction: AwaitInteraction) -> _Key:
    return interaction.tenant_id, interaction.interaction_id


class AwaitDispatcher:
    def __init__(
        self,
        engine: Engine,
        resolve_channel: ResolveChannel,
        *,
        resume_secret: str | None = None,
        input_type: InputType | None = None,
        leadership: Leadership | None = None,
    ) -> None:
        self._engine = engine
        self._resolve = resolve_channel
        self._secret = resume_secret
        self._input_type = input_type or (lambda interaction: None)
        self._leadership = leadership or AlwaysLeader()
        self._own: dict[_Key, AwaitInteraction] = {}
        shared = engine.settings.state.provider == "dynamo"
        self._grace_ms = engine.settings.execution.lease_ms if shared else 0
        self._sweep_every_ms = engine.settings.sweeper.interval_ms
        self._next_sweep_ms = 0  # the first pass sweeps: a restart finds what it left
        self.wake: Callable[[], None] = lambda: None  # set by the coordinator's loop

    def stored(self, interaction: AwaitInteraction) -> None:
        """This process stored ``interaction`` in the outbox: publish it on the next pass."""
        self._own[_key(interaction)] = interaction
        self.wake()

    async def tick(self) -> int:
        published = 0
        own = list(self._own.items())
        if own:
            # Published together: one at a time, each waits out the broker's acknowledgement
            # and a burst of parks queues behind it. A failed one stays for the next pass.
            sent = await asyncio.gather(*(self.dispatch(interaction) for _, interaction in own))
            for (key, _), ok in zip(own, sent, strict=True):
                if ok is not False:  # None: no channel here, left to the outbox sweep
                    self._own.pop(key, None)
                published += bool(ok)
        # The outbox sweep is an index query: at the sweep interval, not on every wake (each
        # park wakes this loop), or a busy lane spends its store on reading its own outbox.
        now = self._engine.clock.now_ms()
        if now >= self._next_sweep_ms and await self._leadership.is_leader():
            self._next_sweep_ms = now + self._sweep_every_ms
            published += await self._orphans()
        return published

    async def _orphans(self) -> int:
        engine = self._engine
        cutoff = engine.clock.now_ms() - self._grace_ms
        published = 0
        for interaction in await engine.stores.awaits.find_undispatched(
            engine.settings.sweeper.limit
        ):
            if _key(interaction) in self._own or interaction.created_at_epoch_ms > cutoff:
                continue  # ours (published on our own pass) or its owner may still publish it
            outcome = await self.dispatch(interaction)
            if outcome is None:
                continue  # needs a channel this coordinator cannot open: left for one that can
            if not outcome:
                return published
            published += 1
        return published

    async def dispatch(self, interaction: AwaitInteraction) -> bool | None:
        """Publish ``interaction``'s request and mark it dispatched; ``False`` if the publish
        failed, ``None`` if its channel cannot be opened here (it stays in the outbox)."""
        with self._engine.recent_interactions.dispatching(interaction):
            return await self._dispatch(interaction)

    async def _dispatch(self, interaction: AwaitInteraction) -> bool | None:
        engine = self._engine
        now = engine.clock.now_ms()
        try:
            channel = self._resolve(interaction)
        except TpfError as exc:
            engine.counters["await_dispatch_failures"] += 1
            LOG.warning("await request %s stays in the outbox: %s", interaction.interaction_id, exc)
            return None
        if channel is not None and channel.publishes:
            token = resume_tokens.issue(self._secret, interaction, now) if self._secret else None
            envelope = dispatch_envelope(
                interaction,
                channel.transport_metadata(interaction, now),
                resume_token=token,
                input_type=self._input_type(interaction),
            )
            try:
                await channel.publish(interaction, envelope)
            except Exception as exc:
                engine.counters["await_dispatch_failures"] += 1
                LOG.warning(
                    "await request %s not published to %s, will retry: %s: %s",
                    interaction.interaction_id,
                    channel.name,
                    type(exc).__name__,
                    exc,
                )
                return False
            cp.crash_point(cp.AWAIT_PUBLISH)  # published, not marked dispatched
            engine.await_metrics.dispatched[(interaction.step_id, channel.name)] += 1
        else:
            LOG.info(
                "await interaction %s (transport %s) has no publishing channel: served by the "
                "interactions API",
                interaction.interaction_id,
                interaction.transport_type,
            )
        marked = await engine.stores.awaits.mark_dispatched(
            interaction.tenant_id, interaction.interaction_id, now, sent=interaction
        )
        cp.crash_point(cp.AWAIT_MARK_DISPATCHED)
        if marked is not None and marked.pending and not marked.undispatched:
            # The answer to the request just sent tries its write on this copy first.
            engine.recent_interactions.remember(marked)
        engine.counters["await_dispatched"] += 1
        return True
