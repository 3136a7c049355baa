"""``/q/metrics`` is cheap and can be protected (issue 8, break 8).

A scrape used to GROUP BY the whole executions table on the SQLite thread every submit shares
(0.12 s at 200k rows); the counts are now kept with every write, so a scrape's statements are
traced here and none may group or scan ``executions`` (one limit-1 read of the due index, for the
oldest due work, is all a scrape reads of the table). ``tpf.http.metrics-token`` makes the
route require a bearer token, over real HTTP.
"""

from __future__ import annotations

import re
import sqlite3

from tests.http.conftest import ORDER, ApiFactory, error
from tpf.stores.sqlite import SqliteDatabase


def sample(text: str, name: str) -> float:
    match = re.search(rf"^{re.escape(name)} (\S+)$", text, re.MULTILINE)
    assert match, f"{name} not in the scrape"
    return float(match.group(1))


async def test_a_scrape_reads_kept_counts_and_never_groups_the_table(
    make_api: ApiFactory,
) -> None:
    api = await make_api(state__provider="sqlite")
    await api.release()
    for n in range(3):
        await api.parked(await api.submit({**ORDER, "requestId": f"req-{n}"}))
    db: SqliteDatabase = api.coordinator.stores.executions._db  # type: ignore[attr-defined]
    statements: list[str] = []

    def trace(conn: sqlite3.Connection) -> None:
        conn.set_trace_callback(statements.append)

    await db.run(trace, atomic=True)
    try:
        response = await api.raw("GET", "/q/metrics")
        text = await response.text()
    finally:
        await db.run(lambda conn: conn.set_trace_callback(None), atomic=True)
    assert response.status == 200
    assert sample(text, 'tpf_executions{status="WAITING_EXTERNAL"}') == 3
    assert sample(text, 'tpf_executions{status="SUCCEEDED"}') == 0
    assert sample(text, "tpf_await_pending") == 3
    scrape = [s for s in statements if "execution_status_counts" in s]
    assert len(scrape) == 1, statements  # the scrape's one read: a handful of rows
    assert not [s for s in statements if "GROUP BY" in s.upper()], statements
    # The one read of the table itself: the oldest due execution, through the due index.
    reads = [s for s in statements if re.search(r"FROM\s+executions\b", s)]
    assert len(reads) == 1 and "INDEXED BY executions_due" in reads[0], reads
    assert re.search(r"LIMIT 1\b", reads[0]), reads


TOKEN_ENV = {"METRICS_TOKEN": "m3trics"}


async def test_the_metrics_token_is_required_when_set(make_api: ApiFactory) -> None:
    api = await make_api(http__metrics_token="env:METRICS_TOKEN", environ=TOKEN_ENV)
    refused = await api.raw("GET", "/q/metrics")
    assert refused.status == 401
    assert refused.headers["WWW-Authenticate"] == 'Bearer realm="tpf"'
    err = (await refused.json())["error"]
    assert err["code"] == "UNAUTHORIZED" and "tpf.http.metrics-token" in err["message"]
    for header in ("Bearer wrong", "Basic m3trics", "Bearer", "Bearer m3tr\u00efcs"):
        err = await error(api.raw("GET", "/q/metrics", headers={"Authorization": header}), 401)
        assert err["code"] == "UNAUTHORIZED", header

    scraped = await api.raw("GET", "/q/metrics", headers={"Authorization": "Bearer m3trics"})
    assert scraped.status == 200 and "tpf_ready 1.0" in await scraped.text()
    # The other public routes stay public.
    assert (await api.raw("GET", "/q/health/ready")).status == 200


async def test_metrics_stay_public_without_a_token(make_api: ApiFactory) -> None:
    api = await make_api()
    assert (await api.raw("GET", "/q/metrics")).status == 200


async def test_an_unresolvable_metrics_token_reference_refuses_scrapes(
    make_api: ApiFactory,
) -> None:
    api = await make_api(http__metrics_token="env:METRICS_TOKEN", environ={"OTHER": "x"})
    err = await error(api.raw("GET", "/q/metrics", headers={"Authorization": "Bearer x"}), 503)
    assert err["code"] == "TOKEN_UNAVAILABLE" and "METRICS_TOKEN" in err["message"]
