"""``python -m bench``: run every benchmark shape and print its figures.

``python -m bench engine|rest|plain|remote|ha|parked|broker|operator|csv`` runs the named
shapes only (``csv``, the csv-payments demo at 10k/100k records, is long: it runs only when
named).
"""

from __future__ import annotations

import asyncio
import sys

from bench import broker, csv_payments, engine, ha, operator, parked, plain, remote, rest


def main() -> None:
    shapes = sys.argv[1:] or [
        "engine",
        "rest",
        "plain",
        "remote",
        "ha",
        "parked",
        "broker",
        "operator",
    ]
    if "engine" in shapes:
        asyncio.run(engine.main())
    if "rest" in shapes:
        rest.main()
    if "plain" in shapes:
        plain.main()
    if "remote" in shapes:
        remote.main()
    if "ha" in shapes:
        ha.main()
    if "parked" in shapes:
        parked.main()
    if "broker" in shapes:
        broker.main()
    if "operator" in shapes:
        operator.main()
    if "csv" in shapes:
        csv_payments.main()


if __name__ == "__main__":
    main()
