"""The roll-up pass on PostgreSQL: a unique key another transaction inserts while the pass
runs stays that transaction's, and the pass still counts; the parts' passes run at once and
count every event once; a pass takes about a chunk of a long backlog; the schema's upgrades
keep every key and every node's progress."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from edge.db.postgres.migrate import migrate
from edge.db.postgres.rollups import PARTS, part_of
from edge.db.postgres.store import PostgresStore
from edge.db.store import Role
from edge.events.rollup import Rollup
from edge.model.events import STORED_FIELDS, Relabel, StoredEvent, Verdict

T0 = 1_900_000_000_000


def click(i: int, recipient: str, message: str = "m", link: str = "l") -> tuple:
    event = StoredEvent(
        f"{i:030x}", "click", T0 + i, 1, "t.test", message, recipient, link, "https://e/"
    )
    return tuple(getattr(event, name) for name in STORED_FIELDS)


def test_a_key_inserted_by_another_transaction_during_the_pass_keeps_its_first_event(pg_url):
    async def go():
        async with PostgresStore(pg_url, node="a") as store:
            async with store.transaction(Role.INGESTER) as tx:
                await tx.event_writer.insert([click(1, "r1"), click(2, "r2")])
            other = await asyncpg.connect(pg_url)
            try:
                # Another transaction holds r1's link key, opened by a machine's click (no
                # counted event; the message's first click), not committed yet: the pass's
                # INSERT waits for it.
                held = other.transaction()
                await held.start()
                await other.execute(
                    "INSERT INTO engagement_keys (account_id, kind, message, recipient, link, "
                    "any_event, any_ts_ms, message_any) "
                    "VALUES (1, 'link', 'm', 'r1', 'l', 'elsewhere', 0, true)"
                )

                pass_ = asyncio.create_task(Rollup(store).run_once(10))
                while not await other.fetchval(
                    "SELECT count(*) FROM pg_locks WHERE NOT granted AND locktype = 'transactionid'"
                ):
                    await asyncio.sleep(0.01)  # polls the lock table: the pass is now waiting
                await held.commit()
                counted = await pass_
                rows = await other.fetch(
                    "SELECT kind, scope, recipient, event_id FROM engagement_firsts "
                    "ORDER BY recipient, kind, scope"
                )
                sums = await other.fetch(
                    "SELECT events, uniq_counted, uniq_any, link_uniq_counted, link_uniq_any "
                    "FROM rollups_daily"
                )
            finally:
                await other.close()
        return counted, [tuple(r) for r in rows], [tuple(r) for r in sums]

    counted, rows, sums = asyncio.run(go())
    assert counted == 2
    r1, r2 = f"{1:030x}", f"{2:030x}"
    assert rows == [
        ("click", 0, "r1", r1), ("click", 1, "r1", "elsewhere"),
        ("link", 0, "r1", r1), ("link", 1, "r1", "elsewhere"),
        ("click", 0, "r2", r2), ("click", 1, "r2", r2),
        ("link", 0, "r2", r2), ("link", 1, "r2", r2),
    ]  # fmt: skip
    # r1's click took the counted scopes of the keys held elsewhere ("any" clicks and links:
    # r2's only).
    assert sums == [(2, 2, 1, 2, 1)]


def test_a_message_with_counted_keys_but_no_first_counted_click_gives_it_to_the_next(pg_url):
    async def go():
        async with PostgresStore(pg_url, node="a") as store:
            async with store.transaction(Role.INGESTER) as tx:
                # What a relabel leaves when it hands the message's first counted click over
                # while another node's pass stores the next one unseen: a counted link key
                # of the message, none flagged as its first counted click.
                await tx.conn.execute(
                    "INSERT INTO engagement_keys (account_id, kind, message, recipient, link, "
                    "any_event, any_ts_ms, counted_event, counted_ts_ms, message_any) "
                    "VALUES (1, 'link', 'm', 'r1', 'old', 'x', 0, 'x', 0, true)"
                )
                await tx.event_writer.insert([click(1, "r1")])
            await Rollup(store).run_once(10)
            async with store.reading() as db:
                rows = await db.conn.fetchall(
                    "SELECT kind, scope, link, event_id FROM engagement_firsts "
                    "ORDER BY kind, scope, link"
                )
                sums = await db.conn.fetchall(
                    "SELECT events, uniq_counted, uniq_any, link_uniq_counted, link_uniq_any "
                    "FROM rollups_daily"
                )
        return [tuple(r) for r in rows], [tuple(r) for r in sums]

    rows, sums = asyncio.run(go())
    c1 = f"{1:030x}"
    assert rows == [
        ("click", 0, "", c1), ("click", 1, "", "x"),
        ("link", 0, "l", c1), ("link", 0, "old", "x"),
        ("link", 1, "l", c1), ("link", 1, "old", "x"),
    ]  # fmt: skip
    assert sums == [(1, 1, 0, 1, 1)]


@pytest.mark.parametrize(
    "next_link", ["a", "b", "c"], ids=["relabelled-link", "counted-link", "new-link"]
)
def test_a_relabel_racing_a_pass_leaves_the_message_s_first_counted_click_to_a_later_pass(
    pg_url, next_link
):
    """A relabel hands the message's first counted click (c1, link a) over while a pass that
    counts c2 (link b) has not committed: the relabel sees no other counted click and leaves
    the message without one. The next pass that sees a click of the message gives it to c2,
    the first counted click of its links, whichever link that click is on."""

    async def go():
        async with PostgresStore(pg_url, node="a") as store:
            async with store.transaction(Role.INGESTER) as tx:
                await tx.event_writer.insert([click(1, "r1", link="a")])
            await Rollup(store).run_once(10)
            async with store.transaction(Role.INGESTER) as tx:
                await tx.event_writer.insert([click(2, "r1", link="b")])
            async with store.reading() as db:
                part = (await db.conn.fetchone(f"SELECT {part_of('e')} FROM events e LIMIT 1"))[0]
            async with store.transaction(Role.INGESTER) as pass_tx:
                assert await pass_tx.rollups.count_next(10, now_ms=0, part=part) == 1
                # Another node's ingest, while the pass has not committed.
                async with store.transaction(Role.ADMIN) as tx:
                    await tx.rollups.reclassify(
                        [Relabel(f"{1:030x}", Verdict("scanner", "link_burst"))]
                    )
            async with store.transaction(Role.INGESTER) as tx:
                await tx.event_writer.insert([click(3, "r1", link=next_link)])
            await Rollup(store).catch_up(10)
            async with store.reading() as db:
                rows = await db.conn.fetchall(
                    "SELECT kind, scope, link, event_id FROM engagement_firsts "
                    "WHERE scope = 0 ORDER BY kind, link"
                )
                sums = await db.conn.fetchall(
                    "SELECT sum(uniq_counted), sum(link_uniq_counted) FROM rollups_daily "
                    "WHERE verdict = 'human'"
                )
        return [tuple(r) for r in rows], [tuple(r) for r in sums]

    rows, sums = asyncio.run(go())
    c2, c3 = f"{2:030x}", f"{3:030x}"
    links = {"a": [("link", 0, "a", c3), ("link", 0, "b", c2)],
             "b": [("link", 0, "b", c2)],
             "c": [("link", 0, "b", c2), ("link", 0, "c", c3)]}[next_link]  # fmt: skip
    assert rows == [("click", 0, "", c2), *links]
    assert sums == [(1, len(links))]


def test_upgrading_to_bytewise_keys_keeps_every_key_and_still_refuses_a_second_one(pg_url):
    async def go():
        conn = await asyncpg.connect(pg_url)
        try:
            await migrate(conn, upto=6)
            await conn.execute(
                "INSERT INTO engagement_firsts (account_id, kind, scope, message, recipient, "
                "link, event_id, ts_ms) VALUES (1, 'open', 0, 'm', 'Ré', '', 'e1', 5), "
                "(1, 'link', 1, 'm', 'r', 'l', 'e2', 6)"
            )
            version = await migrate(conn, upto=7)
            rows = await conn.fetch(
                "SELECT kind, scope, recipient, link, event_id, ts_ms FROM engagement_firsts "
                "ORDER BY event_id"
            )
            again = await conn.execute(
                "INSERT INTO engagement_firsts (account_id, kind, scope, message, recipient, "
                "link, event_id, ts_ms) VALUES (1, 'open', 0, 'm', 'Ré', '', 'e3', 7) "
                "ON CONFLICT DO NOTHING"
            )
            collations = await conn.fetch(
                "SELECT a.attname, c.collname FROM pg_attribute a JOIN pg_collation c "
                "ON c.oid = a.attcollation WHERE a.attrelid = 'engagement_firsts'::regclass "
                "AND a.attnum > 0 ORDER BY a.attnum"
            )
            indexes = await conn.fetch(
                "SELECT indexname FROM pg_indexes WHERE tablename = 'engagement_firsts'"
            )
        finally:
            await conn.close()
        return version, rows, again, collations, indexes

    version, rows, again, collations, indexes = asyncio.run(go())
    assert version == 7
    assert [tuple(r) for r in rows] == [
        ("open", 0, "Ré", "", "e1", 5), ("link", 1, "r", "l", "e2", 6),
    ]  # fmt: skip
    assert again == "INSERT 0 0"
    assert [tuple(c) for c in collations] == [
        ("kind", "C"), ("message", "C"), ("recipient", "C"), ("link", "C"), ("event_id", "C"),
    ]  # fmt: skip
    assert [r[0] for r in indexes] == ["engagement_firsts_pkey"]


def test_upgrading_to_one_row_per_key_keeps_every_key_of_either_scope(pg_url):
    async def go():
        conn = await asyncpg.connect(pg_url)
        try:
            await migrate(conn, upto=7)
            # A person's open (both scopes, one event), a machine's click (any verdict only),
            # and a link whose counted scope was handed over to a later click.
            await conn.execute(
                "INSERT INTO engagement_firsts (account_id, kind, scope, message, recipient, "
                "link, event_id, ts_ms) VALUES (1, 'open', 0, 'm', 'Ré', '', 'e1', 5), "
                "(1, 'open', 1, 'm', 'Ré', '', 'e1', 5), (1, 'click', 1, 'm', 'r', '', 'e2', 6), "
                "(1, 'link', 1, 'm', 'r', 'l', 'e2', 6), (1, 'link', 0, 'm', 'r', 'l', 'e3', 7)"
            )
            before = await conn.fetch("SELECT * FROM engagement_firsts ORDER BY 1, 2, 3, 4, 5, 6")
            version = await migrate(conn, upto=8)
            after = await conn.fetch("SELECT * FROM engagement_firsts ORDER BY 1, 2, 3, 4, 5, 6")
            keys = await conn.fetch(
                "SELECT kind, recipient, link, any_event, any_ts_ms, counted_event, "
                "counted_ts_ms FROM engagement_keys ORDER BY any_event, kind"
            )
            again = await conn.execute(
                "INSERT INTO engagement_keys (account_id, kind, message, recipient, link, "
                "any_event, any_ts_ms) VALUES (1, 'open', 'm', 'Ré', '', 'e4', 8) "
                "ON CONFLICT DO NOTHING"
            )
        finally:
            await conn.close()
        return version, before, after, keys, again

    version, before, after, keys, again = asyncio.run(go())
    assert version == 8
    assert [tuple(r) for r in after] == [tuple(r) for r in before]
    assert [tuple(r) for r in keys] == [
        ("open", "Ré", "", "e1", 5, "e1", 5),
        ("click", "r", "", "e2", 6, None, None),
        ("link", "r", "l", "e2", 6, "e3", 7),
    ]
    assert again == "INSERT 0 0"


async def in_part(conn: asyncpg.Connection, part: int, n: int) -> list[str]:
    """``n`` recipients whose events are counted in ``part``."""
    rows = await conn.fetch(
        "SELECT recipient FROM (SELECT 'r' || i AS recipient FROM generate_series(1, 100) i) s "
        f"WHERE {part_of('s')} = $1 ORDER BY length(recipient), recipient LIMIT $2",
        part,
        n,
    )
    return [r[0] for r in rows]


def test_a_part_is_counted_while_the_other_part_s_pass_is_under_way(pg_url):
    async def go():
        async with PostgresStore(pg_url, node="a") as store:
            conn = await asyncpg.connect(pg_url)
            try:
                (zero,), (one,) = [await in_part(conn, part, 1) for part in (0, 1)]
                async with store.transaction(Role.INGESTER) as tx:
                    # Messages of their own: roll-up rows of their own (the other part's
                    # pass would wait for this one's to commit before adding to its rows).
                    await tx.event_writer.insert([click(1, zero, "m0"), click(2, one, "m1")])
                async with store.transaction(Role.INGESTER) as tx:
                    first = await tx.rollups.count_next(10, now_ms=0, part=0)
                    async with store.transaction(Role.INGESTER) as other:  # part 0's still open
                        second = await other.rollups.count_next(10, now_ms=0, part=1)
                        again = await other.rollups.count_next(10, now_ms=0, part=0)
                progress = await conn.fetch(
                    "SELECT node, part, batch FROM rollup_progress ORDER BY part"
                )
                sums = await conn.fetch(
                    "SELECT message, events, uniq_counted, uniq_any, link_uniq_counted, "
                    "link_uniq_any FROM rollups_hourly ORDER BY message"
                )
            finally:
                await conn.close()
            async with store.reading() as db:
                pending = await db.rollups.pending()
        return first, second, again, progress, sums, pending

    first, second, again, progress, sums, pending = asyncio.run(go())
    assert (first, second) == (1, 1)
    assert again == 0  # part 0's pass holds its lock: the work is left to it
    assert [tuple(r) for r in progress] == [("a", 0, 1), ("a", 1, 1)]
    assert [tuple(r) for r in sums] == [("m0", 1, 1, 1, 1, 1), ("m1", 1, 1, 1, 1, 1)]
    assert not pending


def test_the_parts_passes_add_to_the_same_roll_up_rows_at_once(pg_url):
    async def go():
        async with PostgresStore(pg_url, node="a") as store:
            conn = await asyncpg.connect(pg_url)
            try:
                recipients = [r for part in (0, 1) for r in await in_part(conn, part, 20)]
            finally:
                await conn.close()
            for n in range(10):  # ten batches, each with events of both parts in every group
                async with store.transaction(Role.INGESTER) as tx:
                    await tx.event_writer.insert(
                        [click(n * 100 + i, r) for i, r in enumerate(recipients)]
                    )
            counted = await Rollup(store).catch_up(100)
            async with store.reading() as db:
                sums = await db.conn.fetchall(
                    "SELECT sum(events), sum(uniq_counted), sum(link_uniq_any) FROM rollups_daily"
                )
        return counted, sums

    counted, sums = asyncio.run(go())
    assert counted == 400
    assert sums == [(400, 40, 40)]  # one unique click per recipient


def test_a_pass_takes_about_a_chunk_of_a_long_backlog_and_the_pruned_batches_behind_it(pg_url):
    async def go():
        async with PostgresStore(pg_url, node="a") as store:
            conn = await asyncpg.connect(pg_url)
            try:
                (zero,) = await in_part(conn, 0, 1)
                for n in range(1, 13):  # batches of one event each
                    async with store.transaction(Role.INGESTER) as tx:
                        await tx.event_writer.insert([click(n, f"{zero}")])
                async with store.transaction(Role.INGESTER) as tx:
                    first = await tx.rollups.count_next(5, now_ms=0, part=0)
                await conn.execute("DELETE FROM events WHERE batch > 5")  # pruned
                async with store.transaction(Role.INGESTER) as tx:
                    second = await tx.rollups.count_next(5, now_ms=0, part=0)
                progress = await conn.fetch("SELECT batch FROM rollup_progress WHERE part = 0")
            finally:
                await conn.close()
        return first, second, progress

    first, second, progress = asyncio.run(go())
    assert (first, second) == (5, 0)
    assert [r[0] for r in progress] == [12]


def test_upgrading_to_parts_keeps_every_node_s_progress_in_every_part(pg_url):
    async def go():
        conn = await asyncpg.connect(pg_url)
        try:
            await migrate(conn, upto=8)
            await conn.execute(
                "INSERT INTO ingest_batches (node, batch) VALUES ('a', 7), ('b', 3); "
                "INSERT INTO rollup_progress (node, batch) VALUES ('a', 7), ('b', 2)"
            )
            version = await migrate(conn, upto=9)
            progress = await conn.fetch(
                "SELECT node, part, batch FROM rollup_progress ORDER BY 1, 2"
            )
        finally:
            await conn.close()
        return version, progress

    version, progress = asyncio.run(go())
    assert version == 9
    assert [tuple(r) for r in progress] == [("a", p, 7) for p in range(PARTS)] + [
        ("b", p, 2) for p in range(PARTS)
    ]


def test_upgrading_to_keys_by_recipient_keeps_every_key_and_still_refuses_a_second_one(pg_url):
    async def go():
        conn = await asyncpg.connect(pg_url)
        try:
            await migrate(conn, upto=10)
            await conn.execute(
                "INSERT INTO engagement_keys (account_id, kind, message, recipient, link, "
                "any_event, any_ts_ms, counted_event, counted_ts_ms) VALUES "
                "(1, 'open', 'm', 'r1', '', 'e1', 5, 'e1', 5), "
                "(1, 'link', 'm', 'r2', 'l', 'e2', 6, NULL, NULL)"
            )
            version = await migrate(conn, upto=11)
            keys = await conn.fetch(
                "SELECT kind, recipient, link, any_event, counted_event FROM engagement_keys "
                "ORDER BY any_event"
            )
            again = await conn.execute(
                "INSERT INTO engagement_keys (account_id, kind, message, recipient, link, "
                "any_event, any_ts_ms) VALUES (1, 'open', 'm', 'r1', '', 'e3', 7) "
                "ON CONFLICT DO NOTHING"
            )
            columns = await conn.fetch(
                "SELECT a.attname FROM pg_index i CROSS JOIN unnest(i.indkey) WITH ORDINALITY "
                "AS k(attnum, n) JOIN pg_attribute a ON a.attrelid = i.indrelid "
                "AND a.attnum = k.attnum WHERE i.indrelid = 'engagement_keys'::regclass "
                "AND i.indisprimary ORDER BY k.n"
            )
        finally:
            await conn.close()
        return version, keys, again, columns

    version, keys, again, columns = asyncio.run(go())
    assert version == 11
    assert [tuple(r) for r in keys] == [
        ("open", "r1", "", "e1", "e1"),
        ("link", "r2", "l", "e2", None),
    ]
    assert again == "INSERT 0 0"
    # An erasure's look-up (account and recipient) is a range of the index.
    assert [r[0] for r in columns] == ["account_id", "recipient", "message", "kind", "link"]


def test_upgrading_to_message_firsts_on_link_keys_flags_the_link_key_holding_each(pg_url):
    async def go():
        conn = await asyncpg.connect(pg_url)
        try:
            await migrate(conn, upto=11)
            # r1: one person's clicks, the first on a. r2: a machine's click on a first, the
            # counted scope handed over to a person's on b. r3: the click key's events held
            # by no link key (handed over in another order): its links' firsts take it.
            await conn.execute(
                "INSERT INTO engagement_keys (account_id, kind, message, recipient, link, "
                "any_event, any_ts_ms, counted_event, counted_ts_ms) VALUES "
                "(1, 'open', 'm', 'r1', '', 'e0', 0, 'e0', 0), "
                "(1, 'click', 'm', 'r1', '', 'e1', 1, 'e1', 1), "
                "(1, 'link', 'm', 'r1', 'a', 'e1', 1, 'e1', 1), "
                "(1, 'link', 'm', 'r1', 'b', 'e2', 2, 'e2', 2), "
                "(1, 'click', 'm', 'r2', '', 'e3', 3, 'e5', 5), "
                "(1, 'link', 'm', 'r2', 'a', 'e3', 3, NULL, NULL), "
                "(1, 'link', 'm', 'r2', 'b', 'e4', 4, 'e5', 5), "
                "(1, 'click', 'm', 'r3', '', 'e06', 6, 'e09', 9), "
                "(1, 'link', 'm', 'r3', 'a', 'e07', 7, 'e08', 8), "
                "(1, 'link', 'm', 'r3', 'b', 'e10', 10, 'e11', 11)"
            )
            view = (
                "SELECT * FROM engagement_firsts WHERE recipient <> 'r3' ORDER BY 1, 2, 3, 4, 5, 6"
            )
            before = await conn.fetch(view)
            version = await migrate(conn, upto=12)
            after = await conn.fetch(view)
            keys = await conn.fetch(
                "SELECT kind, recipient, link, message_any, message_counted "
                "FROM engagement_keys ORDER BY recipient, kind, link"
            )
            with pytest.raises(asyncpg.CheckViolationError):
                await conn.execute(
                    "INSERT INTO engagement_keys (account_id, kind, message, recipient, link, "
                    "any_event, any_ts_ms) VALUES (1, 'click', 'm', 'r4', '', 'e12', 12)"
                )
        finally:
            await conn.close()
        return version, before, after, keys

    version, before, after, keys = asyncio.run(go())
    assert version == 12
    assert [tuple(r) for r in after] == [tuple(r) for r in before]
    assert [tuple(r) for r in keys] == [
        ("link", "r1", "a", True, True),
        ("link", "r1", "b", False, False),
        ("open", "r1", "", False, False),
        ("link", "r2", "a", True, False),
        ("link", "r2", "b", False, True),
        ("link", "r3", "a", True, True),
        ("link", "r3", "b", False, False),
    ]


def test_upgrading_moves_the_unique_click_of_a_message_whose_link_keys_hold_another_event(pg_url):
    """Migration 12 flags the first counted click of a message's links where no link key
    holds the click key's event (x, which took it over from a relabelled click, while its
    link b was held by y): migration 13 moves the unique click in the roll-ups from x's hour
    to y's. Their day is the same: the daily row stays as it is."""

    async def go():
        conn = await asyncpg.connect(pg_url)
        try:
            await migrate(conn, upto=11)
            day = T0 - T0 % 86_400_000
            x, y = (day + 3_600_000, "x", 2), (day + 7_200_000, "y", 3)
            await conn.executemany(
                "INSERT INTO events (id, type, ts_ms, account_id, domain, message, recipient, "
                "link, url, method, prefetch, verdict, rule, node, batch) VALUES "
                "($1, 'click', $2, 1, 't.test', 'm', 'r1', 'b', 'https://e/', 'GET', 0, "
                "'human', 'default', 'a', 1)",
                [(event_id, ts) for ts, event_id, _ in (x, y)],
            )
            await conn.execute(
                "INSERT INTO engagement_keys (account_id, kind, message, recipient, link, "
                "any_event, any_ts_ms, counted_event, counted_ts_ms) VALUES "
                f"(1, 'click', 'm', 'r1', '', 'z', 0, 'x', {x[0]}), "
                "(1, 'link', 'm', 'r1', 'a', 'z', 0, NULL, NULL), "
                f"(1, 'link', 'm', 'r1', 'b', 'y', {y[0]}, 'y', {y[0]})"
            )
            for table, bucket in (("rollups_hourly", 3_600_000), ("rollups_daily", 86_400_000)):
                await conn.execute(
                    f"INSERT INTO {table} (account_id, domain, bucket, message, link, type, "
                    "verdict, events, uniq_counted, link_uniq_counted) "
                    "SELECT 1, 't.test', ts - ts % $1, 'm', 'b', 'click', 'human', count(*), "
                    "sum(uniq), sum(link_uniq) FROM (VALUES ($2::bigint, 1, 0), ($3, 0, 1)) "
                    "AS v(ts, uniq, link_uniq) GROUP BY 3",
                    bucket, x[0], y[0],
                )  # fmt: skip
            version = await migrate(conn)
            rows = {
                table: [
                    tuple(r)
                    for r in await conn.fetch(
                        f"SELECT (bucket - {day}) / 3600000, events, uniq_counted, "
                        "link_uniq_counted "
                        f"FROM {table} ORDER BY bucket"
                    )
                ]
                for table in ("rollups_hourly", "rollups_daily")
            }
            left = await conn.fetchval("SELECT to_regclass('message_click_moves')")
        finally:
            await conn.close()
        return version, rows, left

    version, rows, left = asyncio.run(go())
    assert version >= 13
    assert rows == {
        "rollups_hourly": [(1, 1, 0, 0), (2, 1, 1, 1)],
        "rollups_daily": [(0, 2, 1, 1)],
    }
    assert left is None
