"""Engagement fixtures: a store with the event writer's ingest and the roll-up, driven from
synchronous tests, and realistic requests to record.

``engagement_db.record(events)`` stores events exactly as the edge's writer does (one batch,
one transaction, classified) and then catches the roll-up up, so stats read what was
recorded. ``engagement_db`` runs each test on both engines (SQLite, then PostgreSQL).
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from edge.db.postgres.store import PostgresStore
from edge.db.repositories.rollup_keys import FIRST_KEYS
from edge.db.sqlite.store import SQLiteStore
from edge.db.store import Store
from edge.events.ingester import write_batch
from edge.events.prepare import EventPreparer
from edge.events.rollup import Rollup
from edge.model.events import Event, new_event_id

CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36"
)
APPLE_MPP = "Mozilla/5.0"
GMAIL_PROXY = (
    "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)"
)
CURL = "curl/8.5.0"
HOME_IP = "203.0.113.77"
APPLE_IP = "17.58.63.12"
GMAIL_IP = "66.249.84.10"
EOP_IP = "40.107.22.51"

#: Monday 2 November 2026, 00:00 UTC: day 0 of the fixtures.
T0 = int(datetime(2026, 11, 2, tzinfo=UTC).timestamp() * 1000)
HOUR = 3_600_000
DAY = 86_400_000


def event(
    type_: str,
    ts_ms: int,
    message: str | None = "m1",
    recipient: str | None = "r1",
    link: str | None = None,
    *,
    ip: str | None = HOME_IP,
    ua: str | None = CHROME,
    method: str = "GET",
    account: int = 1,
    domain: str = "a.test",
) -> Event:
    """One request as the edge records it; the id carries the event's time, as at the edge."""
    return Event(
        new_event_id(ts_ms * 1_000_000),
        type_,
        ts_ms,
        account,
        domain,
        message,
        recipient,
        link,
        f"https://shop.example/{link}" if type_ == "click" else None,
        ip,
        ua,
        method,
        method == "HEAD",
    )


class EngagementDB:
    def __init__(self, make_store: Callable[[], Store]) -> None:
        #: Another (unopened) store on the same database: another worker, or another node.
        self.make_store = make_store
        self.loop = asyncio.new_event_loop()
        self.store = make_store()
        self.preparer = EventPreparer()
        self.rollup = Rollup(self.store)
        self.run(self.store.open())

    def run(self, coro):
        return self.loop.run_until_complete(coro)

    def record(self, events: list[Event], *, roll_up: bool = True) -> None:
        """Store ``events`` as the ingester does (classified, one transaction)."""

        async def go() -> None:
            ordered = sorted(events, key=lambda e: e.id)
            await write_batch(self.store, await self.preparer.prepare(self.store, ordered))

        self.run(go())
        if roll_up:
            self.run(self.rollup.catch_up())

    def query(self, sql: str, args: tuple = ()) -> list[tuple]:
        """Raw rows, for what no repository reads (roll-up rows, unique keys, bits)."""

        async def fetch():
            async with self.store.reading() as db:
                return [tuple(r) for r in await db.conn.fetchall(sql, args)]

        return self.run(fetch())

    def unique_keys(self) -> dict[str, int]:
        """Which unique keys each event opened, as ``FIRST_*`` bits by event id (the
        engine-neutral reading of ``engagement_firsts``)."""
        bits = {(kind, scope): bit for kind, scope, bit, _, _ in FIRST_KEYS}
        opened: dict[str, int] = {}
        for event_id, kind, scope in self.query(
            "SELECT event_id, kind, scope FROM engagement_firsts"
        ):
            opened[event_id] = opened.get(event_id, 0) | bits[(kind, scope)]
        return opened

    def execute(self, sql: str, args: tuple = ()) -> None:
        async def go():
            async with self.store.transaction() as tx:
                await tx.conn.execute(sql, args)

        self.run(go())

    def close(self) -> None:
        self.run(self.store.close())
        self.loop.close()


@pytest.fixture(params=["sqlite", "postgres"])
def engagement_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[EngagementDB]:
    make: Callable[[], Store]
    if request.param == "sqlite":
        make = functools.partial(SQLiteStore, tmp_path / "edge.sqlite3")
    else:
        make = functools.partial(PostgresStore, request.getfixturevalue("pg_url"), node="a")
    db = EngagementDB(make)
    yield db
    db.close()


@pytest.fixture
def engagement_account(live_server):
    """``engagement_account("acme")``: ``(api key, account id)`` on ``live_server``."""
    services = live_server.app.admin_app.state.services

    def make(name: str = "acme") -> tuple[str, int]:
        async def create() -> tuple[str, int]:
            account = await services.accounts.ensure(name)
            return (await services.accounts.create_key(account)).secret, account.id

        return live_server.call(create)

    return make


def record_live(live, events: list[Event]) -> None:
    """Hand ``events`` to the live server's recorder (as the edge does) and wait for them."""

    async def go() -> None:
        for e in sorted(events, key=lambda e: e.id):
            live.app.runtime.recorder.record(e)
        await live.app.runtime.drain()

    live.call(go)


def api_client(live, key: str):
    """An httpx client for the admin host of ``live``, sending ``key``."""
    client = live.client("admin.test")
    client.headers["authorization"] = key
    return client
