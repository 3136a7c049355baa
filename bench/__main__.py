"""``python -m bench``: run every benchmark shape and print its figures.

``python -m bench engine|rest|remote|ha|broker|operator`` runs the named shapes only.
"""

from __future__ import annotations

import asyncio
import sys

from bench import broker, engine, ha, operator, remote, rest


def main() -> None:
    shapes = sys.argv[1:] or ["engine", "rest", "remote", "ha", "broker", "operator"]
    if "engine" in shapes:
        asyncio.run(engine.main())
    if "rest" in shapes:
        rest.main()
    if "remote" in shapes:
        remote.main()
    if "ha" in shapes:
        ha.main()
    if "broker" in shapes:
        broker.main()
    if "operator" in shapes:
        operator.main()


if __name__ == "__main__":
    main()
