"""``/healthz``: ready once the domain table is loaded, degraded (still 200) without a database."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from urllib.parse import urlsplit

import asyncpg

from edge.tokens.codec import TokenCodec
from tests.conftest import SECRET


def test_a_ready_node_with_its_database_is_ok(live_server):
    with live_server.client("admin.test") as client:
        body = client.get("/healthz").json()
    assert (body["status"], body["database"], body["spool_backlog_bytes"]) == ("ok", "ok", 0)
    assert 0 <= body["domains_age_seconds"] < 5


def test_without_its_database_a_node_is_degraded_but_keeps_redirecting(
    settings, make_server, pg_url, pg_server
):
    live = make_server(replace(settings, database_url=pg_url))
    name = urlsplit(pg_url).path.lstrip("/")

    async def drop() -> None:
        conn = await asyncpg.connect(pg_server)
        try:
            await conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        finally:
            await conn.close()

    asyncio.run(drop())
    token = TokenCodec([SECRET]).sign_click(1, "https://shop.example/")
    with live.client("admin.test") as admin, live.client("track.test") as track:
        health = admin.get("/healthz")
        click = track.get(f"/e/{token}")
    assert health.status_code == 200
    body = health.json()
    assert (body["status"], body["database"], body["spool_backlog_bytes"]) == (
        "degraded",
        "unavailable",
        None,
    )
    assert (click.status_code, click.headers["location"]) == (302, "https://shop.example/")
