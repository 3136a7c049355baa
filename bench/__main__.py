"""``python -m bench``: run every benchmark shape and print its figures."""

from __future__ import annotations

import asyncio

from bench.engine import main

if __name__ == "__main__":
    asyncio.run(main())
