"""The base of every durable record: an immutable msgspec Struct, camelCase on the wire."""

from __future__ import annotations

import msgspec


class Record(msgspec.Struct, frozen=True, rename="camel", omit_defaults=False):
    """Base for every record: immutable, camelCase on the wire."""
