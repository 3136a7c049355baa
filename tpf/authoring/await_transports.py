"""How an await step's request leaves and its completion comes back: the transport specs.

An await step may pin its transport (spec §4.1): :class:`InteractionApi` (REST only: the
request waits in the pending list and a completion comes through ``/interactions/complete``),
:class:`Sqs` (request and response queue URLs, standard queues only) or :class:`Kafka` (request
and response topics, the record-key strategy, an optional consumer group and extra headers). A
step that pins none takes the deployment's configured transport
(:func:`tpf.config.await_transport.effective_transport`), so an operator can switch it without
a code change. REST completion works whatever the transport.

:func:`parse_transport` also accepts the spec's mapping form (``{"type": "kafka", "request":
{"topic": ...}, ...}``, nested or with dotted keys) and the bare name ``"interaction-api"``, so
a transport read from YAML or JSON gets the same checks, each error naming the field.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, get_args

from tpf.core.errors import ValidationError

__all__ = [
    "KEY_STRATEGIES",
    "AwaitTransport",
    "InteractionApi",
    "Kafka",
    "KeyStrategy",
    "Sqs",
    "parse_transport",
    "transport_document",
]

KeyStrategy = Literal["interactionId", "correlationId"]
KEY_STRATEGIES: tuple[str, ...] = get_args(KeyStrategy)


@dataclass(frozen=True)
class InteractionApi:
    """REST only (the default): completions arrive through the control plane."""

    type: Literal["interaction-api"] = "interaction-api"


@dataclass(frozen=True)
class Sqs:
    """Requests to ``request_queue_url``, completions read from ``response_queue_url``.

    Standard queues only: a FIFO queue's message-group ordering and deduplication window would
    silently drop a re-dispatch (dispatch is at-least-once), so a ``.fifo`` URL is refused.
    """

    request_queue_url: str
    response_queue_url: str
    type: Literal["sqs"] = "sqs"

    def __post_init__(self) -> None:
        for name in ("request_queue_url", "response_queue_url"):
            url = _text(getattr(self, name), f"sqs transport: {name}")
            if url.rstrip("/").endswith(".fifo"):
                raise ValidationError(
                    f"sqs transport: {name} {url!r} is a FIFO queue; await transports need "
                    "standard queues",
                    details={"field": name},
                )


@dataclass(frozen=True, init=False)
class Kafka:
    """Requests to ``request_topic`` keyed by ``key``, completions read from ``response_topic``
    by ``consumer_group`` (``None``: the configured await consumer group); ``headers`` are
    added to every request record beside the ``tpf-*`` ones."""

    request_topic: str
    response_topic: str
    key: KeyStrategy
    consumer_group: str | None
    # Sorted (name, value) pairs rather than a dict, so the spec stays hashable and equal
    # specs compare equal whatever order the headers were written in.
    headers: tuple[tuple[str, str], ...]
    type: Literal["kafka"]

    def __init__(
        self,
        request_topic: str,
        response_topic: str,
        *,
        key: str = "interactionId",
        consumer_group: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        where = "kafka transport"
        _set(self, "request_topic", _text(request_topic, f"{where}: request_topic"))
        _set(self, "response_topic", _text(response_topic, f"{where}: response_topic"))
        if key not in KEY_STRATEGIES:
            raise ValidationError(
                f"{where}: key must be one of {', '.join(KEY_STRATEGIES)}, got {key!r}",
                details={"field": "key"},
            )
        _set(self, "key", key)
        if consumer_group is not None:
            consumer_group = _text(consumer_group, f"{where}: consumer_group")
        _set(self, "consumer_group", consumer_group)
        _set(self, "headers", _headers(headers))
        _set(self, "type", "kafka")

    def header_map(self) -> dict[str, str]:
        return dict(self.headers)


AwaitTransport = InteractionApi | Sqs | Kafka


def parse_transport(value: Any) -> AwaitTransport:
    """A transport spec from a spec object, a bare ``"interaction-api"`` or the spec's mapping
    form (spec §4.1); :class:`ValidationError` naming the field otherwise."""
    if isinstance(value, InteractionApi | Sqs | Kafka):
        return value
    if isinstance(value, str):
        if value == "interaction-api":
            return InteractionApi()
        if value in ("sqs", "kafka"):
            raise ValidationError(
                f"await transport {value!r} needs its queues/topics: pass {value.capitalize()}"
                f"(...) or a mapping {{'type': {value!r}, ...}}",
                details={"field": "transport"},
            )
        raise _unknown_type(value)
    if not isinstance(value, Mapping):
        raise ValidationError(
            "await transport must be InteractionApi(), Sqs(...), Kafka(...) or a mapping with "
            f"a 'type', got {type(value).__name__}",
            details={"field": "transport"},
        )
    fields = _flatten(value)
    kind = fields.pop("type", None)
    if kind == "interaction-api":
        _no_extra(kind, fields, set())
        return InteractionApi()
    if kind == "sqs":
        _no_extra(kind, fields, {"request.queueUrl", "response.queueUrl"})
        return Sqs(
            request_queue_url=_required(kind, fields, "request.queueUrl"),
            response_queue_url=_required(kind, fields, "response.queueUrl"),
        )
    if kind == "kafka":
        known = {"request.topic", "request.key", "response.topic", "consumer.group", "headers"}
        _no_extra(kind, fields, known)
        headers = fields.get("headers")
        if headers is not None and not isinstance(headers, Mapping):
            raise ValidationError(
                "kafka transport: headers must be a mapping of names to values",
                details={"field": "headers"},
            )
        return Kafka(
            _required(kind, fields, "request.topic"),
            _required(kind, fields, "response.topic"),
            key=fields.get("request.key") or "interactionId",
            consumer_group=fields.get("consumer.group"),
            headers=headers,
        )
    if kind is None:
        raise ValidationError(
            "await transport mapping needs a 'type' (interaction-api, sqs or kafka)",
            details={"field": "type"},
        )
    raise _unknown_type(kind)


def transport_document(spec: AwaitTransport) -> dict[str, Any]:
    """The spec in the spec's mapping form (the contract hashes it for a pinned transport)."""
    if isinstance(spec, Sqs):
        return {
            "type": "sqs",
            "request": {"queueUrl": spec.request_queue_url},
            "response": {"queueUrl": spec.response_queue_url},
        }
    if isinstance(spec, Kafka):
        document: dict[str, Any] = {
            "type": "kafka",
            "request": {"topic": spec.request_topic, "key": spec.key},
            "response": {"topic": spec.response_topic},
        }
        if spec.consumer_group is not None:
            document["consumer"] = {"group": spec.consumer_group}
        if spec.headers:
            document["headers"] = spec.header_map()
        return document
    return {"type": "interaction-api"}


# --------------------------------------------------------------------------- helpers


def _set(spec: object, name: str, value: Any) -> None:
    object.__setattr__(spec, name, value)  # a frozen dataclass with a hand-written __init__


def _text(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValidationError(
            f"{where} must be a non-blank string, got {value!r}",
            details={"field": where.rpartition(": ")[2]},
        )
    return value.strip()


def _headers(headers: Mapping[str, str] | None) -> tuple[tuple[str, str], ...]:
    pairs: list[tuple[str, str]] = []
    for name, value in (headers or {}).items():
        if not isinstance(name, str) or not name.strip() or not isinstance(value, str):
            raise ValidationError(
                f"kafka transport: headers must map names to string values, got {name!r}: "
                f"{value!r}",
                details={"field": "headers"},
            )
        if name.lower().startswith("tpf-"):
            # The tpf-* headers carry the interaction's identity; an authored one of the same
            # name would make a consumer read the wrong execution.
            raise ValidationError(
                f"kafka transport: header {name!r} is reserved (tpf-* headers are set by the "
                "coordinator)",
                details={"field": "headers"},
            )
        pairs.append((name, value))
    return tuple(sorted(pairs))


def _flatten(value: Mapping[Any, Any], prefix: str = "") -> dict[str, Any]:
    """``{"request": {"topic": t}}`` and ``{"request.topic": t}`` both as ``request.topic``;
    ``headers`` stays a mapping (its names are data, not fields)."""
    flat: dict[str, Any] = {}
    for key, item in value.items():
        name = f"{prefix}{key}"
        if isinstance(item, Mapping) and name != "headers":
            flat.update(_flatten(item, f"{name}."))
        else:
            flat[name] = item
    return flat


def _required(kind: str, fields: Mapping[str, Any], name: str) -> Any:
    if fields.get(name) in (None, ""):
        raise ValidationError(f"{kind} transport: {name} is required", details={"field": name})
    return fields[name]


def _no_extra(kind: str, fields: Mapping[str, Any], known: set[str]) -> None:
    extra = sorted(set(fields) - known)
    if extra:
        allowed = ", ".join(sorted(known)) or "none"
        raise ValidationError(
            f"{kind} transport: unknown field {extra[0]!r} (fields: {allowed})",
            details={"field": extra[0]},
        )


def _unknown_type(kind: object) -> ValidationError:
    hint = " (webhook is not supported by this build)" if kind == "webhook" else ""
    return ValidationError(
        f"await transport type {kind!r} is not one of interaction-api, sqs, kafka{hint}",
        details={"field": "type"},
    )
