"""The await lane: which channel a parking execution's interaction goes to, and the parts that
carry it there and back (the dispatch outbox publisher, the completion sink).

A coordinator runs the channel configuration chooses (``tpf.await-transport``: REST, SQS or
Kafka; :mod:`tpf.transports.providers`) for every await step that pins no transport, and one
more channel per distinct transport a step pins (another queue, topic or key strategy), opened
when code pinning it is hosted, or when an interaction pinned to it is first routed or swept
(code hosted elsewhere: a remote worker, another coordinator). The worker writes a pinned
step's transport into the interaction's ``transportMetadata`` (``transport``), so any
coordinator can open the same channel from the stored record, after a restart too.

An interaction bound for a channel that publishes enters the dispatch outbox
(:func:`tpf.core.interactions.into_outbox`) with the channel's key (``channel``); one for REST
(unpinned on the REST lane, or pinned to ``interaction-api``) waits in the pending-interactions
API. REST completion works whatever the channel.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from msgspec.structs import replace

from tpf.authoring.await_transports import (
    AwaitTransport,
    InteractionApi,
    parse_transport,
)
from tpf.authoring.pipeline import Pipeline
from tpf.config.await_transport import channel_key, effective_transport
from tpf.config.loader import resolve_secret
from tpf.config.settings import Settings
from tpf.core import interactions as inter
from tpf.core.clock import Clock
from tpf.core.errors import ConfigError, TpfError
from tpf.core.records import AwaitInteraction
from tpf.stores.base import AwaitStore
from tpf.supervisors.await_completions import completion_sink, held_dead_letter
from tpf.supervisors.awaits import Awaits
from tpf.transports.awaits.relay import CompletionRelay
from tpf.transports.base import AwaitChannel

LOG = logging.getLogger("tpf.awaits")
# The transport_type a local worker gives an interaction of a step that pins none.
UNPINNED = "interaction-api"
# Where the worker records a pinned step's transport, and the lane the channel it routed to.
PINNED_KEY = "transport"
CHANNEL_KEY = "channel"
# The await step's declared input type (the request's), for the dispatch envelope's inputType:
# the interaction record has only its output type (spec §4.3).
INPUT_TYPE_KEY = "inputType"
# Builds the channel of a complete (effective) transport spec; ConfigError if it cannot here.
ChannelBuilder = Callable[[AwaitTransport], AwaitChannel]


def input_type(interaction: AwaitInteraction) -> str | None:
    """The dispatch envelope's ``inputType`` of ``interaction``, as its worker recorded it."""
    value = interaction.transport_metadata.get(INPUT_TYPE_KEY)
    return value if isinstance(value, str) else None


class AwaitLane:
    def __init__(
        self, settings: Settings, channel: AwaitChannel, build: ChannelBuilder | None = None
    ) -> None:
        self.settings = settings
        self.channel = channel  # the configured one, for unpinned steps
        self._build = build
        # The spec the configured channel serves (names from configuration).
        self._spec = effective_transport(None, settings) if channel.publishes else InteractionApi()
        self._default_key = channel_key(self._spec)
        self._pinned: dict[str, AwaitChannel] = {}
        self._started = False
        self._starting: set[asyncio.Task[None]] = set()
        # Resume tokens in dispatch envelopes and broker completions. On the REST lane (the
        # REST edge resolves its own) an unresolvable secret matters only once a step pins a
        # broker: opening that channel raises it then.
        secret = settings.awaits.resume_token_secret
        self.resume_secret: str | None = None
        self._secret_error: ConfigError | None = None
        try:
            self.resume_secret = resolve_secret(secret) if secret else None
        except ConfigError as exc:
            self._secret_error = ConfigError(
                f"pipeline.orchestrator.resume-token-secret: {exc.message}"
            )
            if channel.publishes:
                raise self._secret_error from None

    def channels(self) -> list[AwaitChannel]:
        """Every channel this coordinator runs: the configured one first."""
        return [self.channel, *self._pinned.values()]

    # ------------------------------------------------------------------ routing

    def route(self, interaction: AwaitInteraction) -> AwaitInteraction:
        """What a parking execution's new interaction becomes before it is stored."""
        pinned = interaction.transport_metadata.get(PINNED_KEY)
        if pinned is None:  # pins nothing (or written by a worker that did not say)
            if interaction.transport_type not in (UNPINNED, self.channel.name):
                return interaction
            key, channel = self._default_key, self.channel
        else:
            spec = self._spec_of(pinned, interaction)
            if isinstance(spec, InteractionApi):
                return interaction  # pinned to REST: the pending-interactions API serves it
            key, channel = self._channel_for(spec)
        if not channel.publishes:
            return interaction
        routed = inter.into_outbox(interaction, channel.name)
        return replace(routed, transport_metadata={**routed.transport_metadata, CHANNEL_KEY: key})

    def resolve(self, interaction: AwaitInteraction) -> AwaitChannel | None:
        """The channel that publishes ``interaction`` (the dispatcher's question); ``None`` if
        none does here (REST: nothing to publish). Raises :class:`ConfigError` if it needs a
        channel this coordinator cannot open (the dispatcher leaves it in the outbox)."""
        metadata = interaction.transport_metadata
        key = metadata.get(CHANNEL_KEY)
        if key is None:  # routed before channels had keys: by name, to the configured one
            return self.channel if interaction.transport_type == self.channel.name else None
        if key == self._default_key:
            return self.channel
        channel = self._pinned.get(key)
        if channel is not None:
            return channel
        pinned = metadata.get(PINNED_KEY)
        if pinned is None:
            raise ConfigError(
                f"await interaction {interaction.interaction_id} was routed to channel {key} "
                "but records no transport to open it from"
            )
        return self._channel_for(self._spec_of(pinned, interaction))[1]

    def _spec_of(self, document: Any, interaction: AwaitInteraction) -> AwaitTransport:
        try:
            return effective_transport(parse_transport(document), self.settings)
        except TpfError as exc:
            raise ConfigError(
                f"await step {interaction.step_id!r}: its pinned transport cannot be used: "
                f"{exc.message}"
            ) from None

    def _channel_for(self, spec: AwaitTransport) -> tuple[str, AwaitChannel]:
        key = channel_key(spec)
        if key == self._default_key:
            return key, self.channel
        channel = self._pinned.get(key)
        if channel is None:
            if self._build is None:
                raise ConfigError(
                    f"await transport {key} is pinned, but this coordinator can only open its "
                    f"configured channel ({self._default_key})"
                )
            if self._secret_error is not None:
                raise self._secret_error
            channel = self._build(spec)
            self._pinned[key] = channel
            LOG.info("await channel %s opened for a pinned await step", key)
            if self._started:
                task = asyncio.get_running_loop().create_task(self._start(channel, key))
                self._starting.add(task)
                task.add_done_callback(self._starting.discard)
        return key, channel

    def check_hosted(self, pipeline: Pipeline) -> None:
        """Open the channels ``pipeline``'s await steps pin, so their completions are consumed
        from the start; :class:`ConfigError` naming the step if one cannot be opened here."""
        for step in pipeline.steps:
            if step.transport_spec is None:
                continue
            try:
                spec = effective_transport(step.transport_spec, self.settings)
                if not isinstance(spec, InteractionApi):  # REST needs no channel
                    self._channel_for(spec)
            except ConfigError as exc:
                raise ConfigError(
                    f"await step {step.step_id!r} of pipeline {pipeline.pipeline_id!r}: "
                    f"{exc.message}"
                ) from None

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Start consuming completions on every channel (channels opened later start at once)."""
        self._started = True
        for channel in self.channels():
            await channel.start()

    async def _start(self, channel: AwaitChannel, key: str) -> None:
        try:
            await channel.start()
        except Exception:
            LOG.exception("await channel %s did not start", key)

    def bind(
        self, relay: CompletionRelay | None, awaits: Awaits, store: AwaitStore, clock: Clock
    ) -> None:
        """Let the channels' completions reach the awaits supervisor (the admission path)."""
        if relay is not None:
            relay.bind(completion_sink(awaits, store, clock, self.resume_secret))
        awaits.dead_letter = held_dead_letter(self.channel_for_key)

    def channel_for_key(self, key: str | None) -> AwaitChannel | None:
        """The channel running here under ``key`` (a held completion's channel), if any."""
        return self.channel if key == self._default_key else self._pinned.get(key or "")
