"""``python -m bench``: run every benchmark shape and print its figures.

``python -m bench engine|rest|ha|broker`` runs the named shapes only.
"""

from __future__ import annotations

import asyncio
import sys

from bench import broker, engine, ha, rest


def main() -> None:
    shapes = sys.argv[1:] or ["engine", "rest", "ha", "broker"]
    if "engine" in shapes:
        asyncio.run(engine.main())
    if "rest" in shapes:
        rest.main()
    if "ha" in shapes:
        ha.main()
    if "broker" in shapes:
        broker.main()


if __name__ == "__main__":
    main()
