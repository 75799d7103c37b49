"""``tracking-edge db migrate-to``: one machine's SQLite into a cluster's PostgreSQL."""

from __future__ import annotations

import asyncio

import pytest

from admin.cli.main import main
from admin.engagement.stats import StatsQuery, run_stats
from edge.db.postgres.store import PostgresStore
from edge.db.sqlite.store import SQLiteStore
from edge.db.store import Store
from edge.events.ingester import write_batch
from edge.events.prepare import EventPreparer
from edge.events.rollup import Rollup
from edge.model.events import Relabel, Verdict
from edge.tokens.codec import load_secret_keys
from tests.fixtures_engagement import DAY, HOUR, T0, event

QUERY = StatsQuery(1, T0, T0 + DAY)
SCANNER = Verdict("scanner", "link_burst")


@pytest.fixture
def data_dir(tmp_path, monkeypatch):
    path = tmp_path / "data"
    monkeypatch.setenv("EDGE_DATA_DIR", str(path))
    monkeypatch.delenv("EDGE_SECRET_KEYS", raising=False)
    monkeypatch.setenv("EDGE_NODE_ID", "old-box")
    return path


async def _installation(path) -> None:
    """A SQLite installation in use: a key, a verified domain, events (two counted, one
    not yet), a webhook with a queued event, a generated signing secret."""
    async with SQLiteStore(path) as store:
        async with store.transaction() as tx:
            acme = await tx.accounts.ensure("acme", now=1)
            await tx.accounts.insert_key(acme, "digest", "abc123", "ci", now=1)
            domain_id = await tx.domains.insert(1, "track.brand.test", secure=True, now=1)
            await tx.domains.mark_valid(domain_id, "ok", checked=1.5, now=1)
            endpoint = await tx.webhooks.insert(1, "https://hooks.example/", "s", ["click"], now=1)
        events = [event("open", T0), event("click", T0 + 1000, link="buy")]
        await write_batch(store, await EventPreparer().prepare(store, events))
        await Rollup(store).catch_up()  # the webhook queue row comes from this pass
        late = [event("click", T0 + 5000, recipient="r2", link="buy")]
        await write_batch(store, await EventPreparer().prepare(store, late))
        async with store.transaction() as tx:
            assert await tx.webhooks.get(1, endpoint) is not None


async def _stats(store: Store) -> dict:
    await Rollup(store).catch_up()
    return (await run_stats(store, QUERY))["totals"]


async def _unique_keys(store: Store) -> list[tuple]:
    """Every unique key by kind and scope, the message-level click keys among them (on
    PostgreSQL flags on link keys, read through its ``engagement_firsts`` view)."""
    async with store.reading() as db:
        rows = await db.conn.fetchall(
            "SELECT kind, scope, message, recipient, link, event_id FROM engagement_firsts"
        )
    return sorted(tuple(r) for r in rows)


def test_an_installation_is_copied_whole_and_a_second_run_adds_nothing(data_dir, pg_url, capsys):
    path = data_dir / "edge.sqlite3"
    asyncio.run(_installation(path))
    generated = load_secret_keys((), data_dir)
    assert main(["db", "migrate-to", pg_url]) == 0
    first = capsys.readouterr().out
    assert main(["db", "migrate-to", pg_url]) == 0
    second = capsys.readouterr().out
    assert first == second  # counts equal on both sides, and nothing twice
    lines = dict(line.split("\t", 1) for line in first.splitlines()[1:])
    assert lines["events"] == "3\t3"
    assert lines["tracking_domains"] == "1\t1"
    assert lines["webhook_queue"] == "1\t1"

    async def compare() -> tuple[dict, dict, list[str], bool, list[tuple], list[tuple]]:
        async with PostgresStore(pg_url, node="old-box") as cluster:
            async with cluster.reading() as db:
                pending = await db.rollups.pending()  # the uncounted event, only
                domains = [d.domain for d in await db.domains.all() if d.served]
            copied = await _stats(cluster)
            copied_keys = await _unique_keys(cluster)
            async with cluster.transaction() as tx:
                keys = await tx.signing_keys.ensure("not this one")
        async with SQLiteStore(path) as local:
            original = await _stats(local)
            original_keys = await _unique_keys(local)
        ok = pending and domains == ["track.brand.test"]
        return copied, original, keys, ok, copied_keys, original_keys

    copied, original, keys, ok, copied_keys, original_keys = asyncio.run(compare())
    assert ok
    assert copied == original
    assert copied_keys == original_keys
    assert len(original_keys) == 8  # r1: an open (both scopes), a machine's click; r2: a click
    assert (copied["clicks"], copied["scanner_clicks"]) == (1, 1)  # r1's was a fast click
    assert keys == generated  # links already sent keep verifying


async def _hourly(store: Store) -> list[tuple]:
    """(hour after T0, link, verdict, unique counted clicks, unique counted link clicks)."""
    async with store.reading() as db:
        rows = await db.conn.fetchall(
            "SELECT bucket, link, verdict, uniq_counted, link_uniq_counted FROM rollups_hourly "
            "WHERE type = 'click' ORDER BY bucket, link, verdict"
        )
    return [((r[0] - T0) // HOUR, *r[1:]) for r in rows]


def test_a_message_s_first_counted_click_that_no_link_key_holds_moves_with_its_credit(
    data_dir, pg_url, capsys
):
    """On SQLite a message's first counted click can be an event its link's key does not
    hold: z (link a) counted first, y (link b) then x (link b, arrived late), and z
    relabelled: the message's goes to x, link b's stays y's. PostgreSQL keeps it as a flag on
    the link key (b, y): the copy moves the unique click in the roll-ups from x's hour to
    y's, so that a relabel of y takes it from y's hour and gives it back to x's."""
    path = data_dir / "edge.sqlite3"
    z, y, x = (event("click", T0 + h * HOUR, link=k) for h, k in ((1, "a"), (3, "b"), (2, "b")))

    async def installation() -> list[tuple]:
        async with SQLiteStore(path) as store:
            await write_batch(store, await EventPreparer().prepare(store, [z, y]))
            await Rollup(store).catch_up()
            await write_batch(store, await EventPreparer().prepare(store, [x]))
            await Rollup(store).catch_up()
            async with store.transaction() as tx:
                await tx.rollups.reclassify([Relabel(z.id, SCANNER)])
            return await _hourly(store)

    assert asyncio.run(installation()) == [
        (1, "a", "human", 0, 0), (1, "a", "scanner", 0, 0),
        (2, "b", "human", 1, 0), (3, "b", "human", 0, 1),
    ]  # fmt: skip
    assert main(["db", "migrate-to", pg_url]) == 0

    async def cluster() -> tuple[list[tuple], list[tuple]]:
        async with PostgresStore(pg_url, node="old-box") as store:
            copied = await _hourly(store)
            async with store.transaction() as tx:
                await tx.rollups.reclassify([Relabel(y.id, SCANNER)])
            return copied, await _hourly(store)

    copied, relabelled = asyncio.run(cluster())
    assert copied == [
        (1, "a", "human", 0, 0), (1, "a", "scanner", 0, 0),
        (2, "b", "human", 0, 0), (3, "b", "human", 1, 1),
    ]  # fmt: skip
    assert relabelled == [
        (1, "a", "human", 0, 0), (1, "a", "scanner", 0, 0),
        (2, "b", "human", 1, 1), (3, "b", "human", 0, 0), (3, "b", "scanner", 0, 0),
    ]  # fmt: skip


def test_every_account_keeps_its_cname_target_the_default_account_too(data_dir, pg_url, capsys):
    """The cluster's schema made its own default account: the copy takes the installation's
    label for it, which its customers' CNAMEs name (issue 13, item 2)."""
    path = data_dir / "edge.sqlite3"
    asyncio.run(_installation(path))
    assert main(["db", "migrate-to", pg_url]) == 0

    async def labels(store: Store) -> list[tuple[str, str]]:
        async with store, store.reading() as db:
            accounts = [await db.accounts.get(1), await db.accounts.get(2)]
        return [(a.name, a.cname_label) for a in accounts if a is not None]

    local = asyncio.run(labels(SQLiteStore(path)))
    assert asyncio.run(labels(PostgresStore(pg_url, node="old-box"))) == local
    assert [name for name, _ in local] == ["default", "acme"]


def test_a_url_that_is_not_postgresql_is_refused_in_one_line(data_dir, capsys):
    assert main(["db", "migrate-to", "mysql://x"]) == 1
    assert capsys.readouterr().err == (
        "tracking-edge: error: the URL must be a postgresql:// URL\n"
    )


def test_copying_into_an_unreachable_database_is_one_line(data_dir, capsys):
    asyncio.run(_installation(data_dir / "edge.sqlite3"))
    assert main(["db", "migrate-to", "postgresql://nobody@127.0.0.1:9/x"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("tracking-edge: error: PostgreSQL refused the copy: ")
    assert err.count("\n") == 1
