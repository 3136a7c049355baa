"""Which asyncio event loop a serving command runs on: ``--loop asyncio|uvloop``.

uvloop (libuv underneath) is the default: ``make bench``'s plain shape measured it faster than
asyncio's loop (bench/NOTES.md). It is a dependency, but an install without it (a platform
without wheels) gets a startup error naming the fix (``--loop asyncio``), never a silent
fallback to another loop than the one configured.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar, cast

from tpf.config.keys import EVENT_LOOPS
from tpf.core.errors import ConfigError

T = TypeVar("T")
LoopFactory = Callable[[], asyncio.AbstractEventLoop]


def loop_factory(name: str) -> LoopFactory | None:
    """The factory of the ``name`` event loop (``None``: asyncio's default)."""
    if name not in EVENT_LOOPS:
        raise ConfigError(f"unknown event loop {name!r}; valid values: {', '.join(EVENT_LOOPS)}")
    if name == "asyncio":
        return None
    try:
        import uvloop  # here, not at the top: only a coordinator that asks for it needs it
    except ImportError:
        raise ConfigError(
            "event loop uvloop (--loop uvloop / tpf.http.event-loop) is not installed in this "
            "environment: install it (pip install uvloop) or use --loop asyncio"
        ) from None
    return cast(LoopFactory, uvloop.new_event_loop)


def run(main: Callable[[], Coroutine[Any, Any, T]], name: str) -> T:
    """Run ``main()`` to completion on a new ``name`` event loop (raises ConfigError first,
    before the coroutine exists, when that loop cannot be had)."""
    factory = loop_factory(name)
    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(main())
