"""Provider tables: one per kind of pluggable part, each mapping a name to how to build it.

A :class:`Provider` entry says everything the engine needs to know about one technology: its
factory, the settings it cannot run without (checked before anything opens, naming the key),
the AWS services it talks to (so "needs AWS clients", "uses DynamoDB" and the startup probes are
read from the chosen entries instead of being recomputed in several places), its startup check
(which of its resources are missing) and its close. Adding a provider is one entry (``register``)
plus its module; configuration validation reads the same tables, so names are listed once.

An entry without a factory is a name the configuration accepts (the original's) that this build
cannot run yet: choosing it fails startup saying so, instead of running on a default.

Factories get an :class:`OpenContext`: the settings, the clock, the shared AWS clients and one
``AsyncExitStack`` every opened resource is pushed onto, so the coordinator closes everything in
reverse order of opening, and a failure while opening closes what was opened before it.
"""

from __future__ import annotations

import contextlib
import importlib
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, TypeVar, overload

from tpf.config.properties import format_errors
from tpf.config.settings import Settings, value_at
from tpf.config.worker_settings import worker_aws_services
from tpf.config.worker_targets import target_errors
from tpf.core.clock import Clock
from tpf.core.errors import ConfigError

if TYPE_CHECKING:
    from tpf.aws.clients import AwsClients
    from tpf.stores.health import StoreHealth

T = TypeVar("T")
R = TypeVar("R")
_P = "pipeline.orchestrator."


class ClosingStack(contextlib.AsyncExitStack):
    """An ``AsyncExitStack`` that knows whether anything was pushed onto it (a store set of
    memory stores has nothing to close, and says so)."""

    def __init__(self) -> None:
        super().__init__()
        self.pushed = 0

    def push_async_callback(
        self, callback: Callable[..., Awaitable[Any]], /, *args: Any, **kwds: Any
    ) -> Callable[..., Awaitable[Any]]:
        self.pushed += 1
        return super().push_async_callback(callback, *args, **kwds)

    def callback(self, callback: Callable[..., Any], /, *args: Any, **kwds: Any) -> Any:
        self.pushed += 1
        return super().callback(callback, *args, **kwds)


@dataclass
class OpenContext:
    """What a provider's factory builds from, and where it leaves what needs closing."""

    settings: Settings
    clock: Clock
    aws: AwsClients | None
    stack: ClosingStack
    # Store health probes of the durable resources opened (SQLite, DynamoDB), for readiness.
    health: list[StoreHealth] = field(default_factory=list)
    # For the await channels: where they hand decoded completions (the runtime's relay, bound
    # to the awaits supervisor once it exists) and the await metrics they count in. Typed
    # loosely: their types live in the transports layer above this one.
    completions: Any = None
    await_metrics: Any = None
    _shared: dict[str, Any] = field(default_factory=dict)

    def require_aws(self) -> AwsClients:
        if self.aws is None:  # the table checks this first; a factory called directly may not
            raise ConfigError("this provider needs AWS clients (none were given)")
        return self.aws

    async def shared(self, name: str, open_: Callable[[], Awaitable[R]]) -> R:
        """One resource per ``name`` for every provider that asks (one SQLite database for all
        ``sqlite`` stores, so their writes share group commits); ``open_`` pushes its close."""
        if name not in self._shared:
            self._shared[name] = await open_()
        resource: R = self._shared[name]
        return resource


Check = Callable[[Settings, "AwsClients"], Awaitable[list[str]]]


@dataclass(frozen=True)
class Provider(Generic[T]):
    name: str
    # Builds the part; ``None``: a name the configuration accepts that this build cannot run.
    open: Callable[[OpenContext], Awaitable[T]] | None
    # ``(Settings section.field, property key)`` pairs that must be set for this provider; a
    # key outside ``pipeline.orchestrator.`` is written in full (``kafka.bootstrap-servers``).
    requires: tuple[tuple[str, str], ...] = ()
    # The AWS services it calls ("dynamodb", "sqs", "s3").
    aws: tuple[str, ...] = ()
    # Strict startup: one line per resource it needs that does not exist.
    check: Check | None = None
    # Pushed onto the context's stack once the part is open.
    close: Callable[[T], Awaitable[None]] | None = None
    # The Kafka topics it uses, ``{property key: topic}``: strict startup checks they exist
    # (one error naming every missing one) and ``tpf bootstrap kafka`` creates them.
    kafka_topics: Callable[[Settings], dict[str, str]] | None = None


class _Names(Sequence[str]):
    """A table's names as they are now: configuration validation sees entries registered after
    it was imported (a test's fake provider)."""

    def __init__(self, table: ProviderTable[Any]) -> None:
        self._table = table

    @overload
    def __getitem__(self, index: int) -> str: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[str]: ...

    def __getitem__(self, index: int | slice) -> str | Sequence[str]:
        return list(self._table.entries)[index]

    def __len__(self) -> int:
        return len(self._table.entries)


class ProviderTable(Generic[T]):
    """The providers of one kind, chosen by one setting."""

    def __init__(
        self, kind: str, key: str, setting: str, entries: Iterable[Provider[T]], *, hint: str = ""
    ) -> None:
        self.kind = kind
        self.key = key  # the property naming the provider
        self.setting = setting  # the Settings ``section.field`` holding it
        self.entries: dict[str, Provider[T]] = {e.name: e for e in entries}
        self.names: Sequence[str] = _Names(self)
        self._hint = hint  # appended to "not available" (what works instead)
        _TABLES[setting] = self

    def register(self, entry: Provider[T]) -> None:
        self.entries[entry.name] = entry

    def unregister(self, name: str) -> None:
        self.entries.pop(name, None)

    @contextlib.contextmanager
    def registered(self, entry: Provider[T]) -> Iterator[Provider[T]]:
        """``entry`` registered for the ``with`` block (tests), the previous one restored."""
        previous = self.entries.get(entry.name)
        self.register(entry)
        try:
            yield entry
        finally:
            if previous is None:
                self.unregister(entry.name)
            else:
                self.register(previous)

    @property
    def _short(self) -> str:
        return self.key.removeprefix(_P)

    def chosen(self, settings: Settings) -> Provider[T]:
        """The entry ``settings`` names, checked to be runnable with them (not opened)."""
        name = str(value_at(settings, self.setting))
        entry = self.entries.get(name)
        if entry is None or entry.open is None:
            built = ", ".join(n for n, e in self.entries.items() if e.open is not None)
            raise ConfigError(
                f"{self.key}={name} is not available in this build yet (supported: {built}"
                f"{self._hint})"
            )
        for attr, key in entry.requires:
            if not value_at(settings, attr):
                raise ConfigError(f"{_full(key)} is required when {self._short}={name}")
        return entry

    def aws_services(self, settings: Settings) -> tuple[str, ...]:
        """The AWS services the chosen provider calls (none for a name that is not built)."""
        entry = self.entries.get(str(value_at(settings, self.setting)))
        return () if entry is None else entry.aws

    async def open(self, ctx: OpenContext) -> T:
        """Build the chosen provider's part and push its close onto the context's stack."""
        entry = self.chosen(ctx.settings)
        if entry.aws and ctx.aws is None:
            raise ConfigError(f"{self._short}={entry.name} needs AWS clients (none were given)")
        assert entry.open is not None  # chosen() refuses entries without a factory
        part = await entry.open(ctx)
        if entry.close is not None:
            ctx.stack.push_async_callback(entry.close, part)
        return part

    async def missing(self, settings: Settings, aws: AwsClients) -> list[str]:
        """Strict startup: what the chosen provider needs that does not exist."""
        entry = self.chosen(settings)
        return [] if entry.check is None else await entry.check(settings, aws)


def _full(key: str) -> str:
    return key if key.startswith(("tpf.", "kafka.", _P)) else _P + key


# Every table, by the ``section.field`` that chooses its provider; filled as tables are built.
_TABLES: dict[str, ProviderTable[Any]] = {}
# The modules that build the tables. They live with what they build, above this layer (they
# import the implementations' types), so they are named here and loaded on first use, the way
# plugin entry points are: configuration can check a provider name against the tables without
# importing upward. Implementations themselves are imported only when chosen.
TABLE_MODULES = ("tpf.transports.providers", "tpf.stores.providers")


def tables() -> tuple[ProviderTable[Any], ...]:
    """Every table chosen by a setting: the transports', then the stores'."""
    for module in TABLE_MODULES:
        importlib.import_module(module)
    return tuple(_TABLES.values())


def table_for(setting: str) -> ProviderTable[Any]:
    """The table whose provider ``setting`` (``section.field``) chooses."""
    tables()
    return _TABLES[setting]


def check_chosen(settings: Settings) -> None:
    """Refuse, naming the setting, a provider this build cannot run or one missing a setting
    it needs, and a remote worker target that cannot work (spec §6.4): before anything is
    opened."""
    for table in tables():
        table.chosen(settings)
    problems = target_errors(settings)
    if problems:
        raise ConfigError(format_errors(problems))


def aws_services(settings: Settings) -> frozenset[str]:
    """The AWS services the chosen providers and the worker protocols call (empty: no AWS
    clients are needed)."""
    chosen = {service for table in tables() for service in table.aws_services(settings)}
    return frozenset(chosen | set(worker_aws_services(settings.worker_sqs)))


def uses_dynamo(settings: Settings) -> bool:
    return "dynamodb" in aws_services(settings)


def kafka_topics(settings: Settings) -> dict[str, str]:
    """``{property key: topic}`` of every Kafka topic the chosen providers use; a setting they
    require that is unset is a :class:`ConfigError` naming it."""
    topics: dict[str, str] = {}
    for table in tables():
        entry = table.entries.get(str(value_at(settings, table.setting)))
        if entry is not None and entry.kafka_topics is not None:
            for attr, key in entry.requires:  # a topic setting left unset is named, not skipped
                if not value_at(settings, attr):
                    raise ConfigError(f"{_full(key)} is required when {table._short}={entry.name}")
            topics.update(entry.kafka_topics(settings))
    return topics


async def missing_resources(settings: Settings, aws: AwsClients) -> list[str]:
    """Strict startup: what the chosen providers' checks find missing, each line once (the
    ``dynamo`` stores share one check of every table and index they use)."""
    lines: dict[str, None] = {}
    ran: set[Check] = set()
    for table in tables():
        check = table.chosen(settings).check
        if check is None or check in ran:
            continue
        ran.add(check)
        for line in await check(settings, aws):
            lines[line] = None
    return list(lines)
