"""The await lane: which channel a parking execution's interaction goes to, and the parts that
carry it there and back (the dispatch outbox publisher, the completion sink).

One coordinator runs one await channel, the one configuration chooses
(``tpf.await-transport``: REST, SQS or Kafka; :mod:`tpf.transports.providers`). An interaction
of an await step that pins no transport, or pins the configured one, goes to that channel: into
the dispatch outbox when the channel publishes (:func:`tpf.core.interactions.into_outbox`), to
the pending-interactions API otherwise. REST completion works whatever the channel.

A step pinned to a *different* transport than the configured channel (another queue, topic or
key strategy, or REST while the deployment runs Kafka) is refused when its code is hosted,
naming the step: this build runs one channel per coordinator, and a silently misrouted request
would never reach its approver.
"""

from __future__ import annotations

from tpf.authoring.await_transports import InteractionApi
from tpf.authoring.pipeline import Pipeline
from tpf.config.await_transport import channel_name, effective_transport
from tpf.config.loader import resolve_secret
from tpf.config.settings import Settings
from tpf.core import interactions as inter
from tpf.core.clock import Clock
from tpf.core.errors import ConfigError
from tpf.core.records import AwaitInteraction
from tpf.stores.base import AwaitStore
from tpf.supervisors.await_completions import completion_sink
from tpf.supervisors.awaits import Awaits
from tpf.transports.awaits.relay import CompletionRelay
from tpf.transports.base import AwaitChannel

# The transport_type a local worker gives an interaction of a step that pins none.
UNPINNED = "interaction-api"


class AwaitLane:
    def __init__(self, settings: Settings, channel: AwaitChannel) -> None:
        self.settings = settings
        self.channel = channel
        # The spec the channel serves: what an unpinned step uses (names from configuration).
        self._spec = effective_transport(None, settings) if channel.publishes else InteractionApi()
        # Resume tokens in dispatch envelopes and broker completions; the REST lane has neither
        # (the REST edge resolves its own, from the environment it is given).
        secret = settings.awaits.resume_token_secret if channel.publishes else None
        try:
            self.resume_secret = resolve_secret(secret) if secret else None
        except ConfigError as exc:
            raise ConfigError(f"pipeline.orchestrator.resume-token-secret: {exc.message}") from None

    def route(self, interaction: AwaitInteraction) -> AwaitInteraction:
        """What a parking execution's new interaction becomes before it is stored."""
        if self.channel.publishes and interaction.transport_type in (UNPINNED, self.channel.name):
            return inter.into_outbox(interaction, self.channel.name)
        return interaction

    def resolve(self, interaction: AwaitInteraction) -> AwaitChannel | None:
        """The channel that publishes ``interaction`` (the dispatcher's question)."""
        return self.channel if interaction.transport_type == self.channel.name else None

    def check_hosted(self, pipeline: Pipeline) -> None:
        """Refuse hosting code whose await steps pin a transport this coordinator does not run."""
        for step in pipeline.steps:
            pinned = step.transport_spec
            if pinned is None:
                continue
            wanted = effective_transport(pinned, self.settings)
            if wanted == self._spec:
                continue
            raise ConfigError(
                f"await step {step.step_id!r} of pipeline {pipeline.pipeline_id!r} pins the "
                f"{channel_name(wanted)} transport {wanted!r}, but this coordinator's await "
                f"channel is {self.channel.name} ({self._spec!r}, tpf.await-transport): one "
                "channel per coordinator is supported; pin the configured transport or none"
            )

    def bind(
        self, relay: CompletionRelay | None, awaits: Awaits, store: AwaitStore, clock: Clock
    ) -> None:
        """Let the channel's completions reach the awaits supervisor (the admission path)."""
        if relay is not None:
            relay.bind(completion_sink(awaits, store, clock, self.resume_secret))
