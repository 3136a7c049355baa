"""``python -m bench``: run every benchmark shape and print its figures.

``python -m bench engine|rest`` runs one shape only.
"""

from __future__ import annotations

import asyncio
import sys

from bench import engine, rest


def main() -> None:
    shapes = sys.argv[1:] or ["engine", "rest"]
    if "engine" in shapes:
        asyncio.run(engine.main())
    if "rest" in shapes:
        rest.main()


if __name__ == "__main__":
    main()
