"""Erasing a recipient, on every engine: what goes, what stays, and what keeps it erased while
ingest transactions and roll-up passes run alongside (issue 13, privacy)."""

from __future__ import annotations

import asyncio
import time

from edge.db.repositories.events import EventFilter
from edge.db.store import Role
from edge.events.ingester import write_batch
from edge.events.prepare import Batch
from edge.events.rollup import Rollup
from edge.model.erasure import Erasure, ErasureCounts, recipient_digest
from edge.model.events import STORED_FIELDS, StoredEvent

#: When the erasures of these tests happen; events are served around it.
T = 1_700_000_000_000
#: How long a competing transaction is given to get under way (it must then be waiting).
HEAD_START = 0.3


def row(
    n: int,
    recipient: str | None,
    ts_ms: int = T - 60_000,
    *,
    account: int = 1,
    type_: str = "click",
    verdict: str = "human",
) -> tuple:
    """A stored event's row; ``n`` makes its id (ids begin with their time, as at the edge)."""
    event = StoredEvent(
        f"{ts_ms * 1000:014x}{n:024x}", type_, ts_ms, account, "t.test", "m1", recipient,
        "buy" if type_ == "click" else None, "https://shop.test/" if type_ == "click" else None,
        "203.0.113.1", "UA", "GET", False, verdict, "test",
    )  # fmt: skip
    return tuple(getattr(event, f) for f in STORED_FIELDS)


async def setup(store, rows: list[tuple]) -> None:
    """Account 2 and a webhook endpoint for each account; ``rows`` stored and counted."""
    async with store.transaction() as tx:
        await tx.accounts.ensure("other", now=1)
        for account in (1, 2):
            await tx.webhooks.insert(
                account, "https://hooks.test/", "s", ("click", "open", "initial_open"), now=1
            )
    await write_batch(store, Batch(rows, []))
    await Rollup(store).catch_up()


async def erase(store, references=("r1",), *, account: int = 1, now_ms: int = T) -> ErasureCounts:
    async with store.transaction() as tx:
        return await tx.erasures.erase(account, list(references), now_ms=now_ms)


async def recipients(store) -> dict[str, list]:
    """What each table holds about recipients: ``(account, recipient)`` of events (with their
    verdicts), unique keys and queued deliveries (no recipient: ``""``)."""
    async with store.reading() as db:
        events = await db.events.page(EventFilter(None), limit=1000)
        keys = await db.conn.fetchall(
            "SELECT account_id, recipient, count(*) FROM engagement_firsts "
            "GROUP BY account_id, recipient ORDER BY account_id, recipient"
        )
        queued = await db.conn.fetchall(
            "SELECT e.account_id, coalesce(e.recipient, '') AS r, count(*) FROM webhook_queue q "
            "JOIN events e ON e.id = q.event_id GROUP BY e.account_id, r "
            "ORDER BY e.account_id, r"
        )
        all_queued = await db.conn.fetchone("SELECT count(*) FROM webhook_queue")
    return {
        "events": sorted((e.account_id, e.recipient or "", e.verdict) for e in events),
        "keys": [tuple(r) for r in keys],
        "queued": [tuple(r) for r in queued],
        "orphans": [all_queued[0] - sum(r[2] for r in queued)],
    }


async def rollups(store) -> list[tuple]:
    async with store.reading() as db:
        return [
            tuple(r)
            for table in ("rollups_hourly", "rollups_daily")
            for r in await db.conn.fetchall(f"SELECT * FROM {table} ORDER BY 1, 2, 3, 4, 5, 6, 7")
        ]


async def erasures(store) -> list[Erasure]:
    async with store.reading() as db:
        return await db.erasures.all()


def test_an_erasure_deletes_the_recipients_events_keys_and_deliveries_of_that_account_only(
    make_store,
):
    rows = [
        row(1, "r1", type_="open", verdict="machine_open"),
        row(2, "r1", verdict="human"),
        row(3, "r1", verdict="scanner"),
        row(4, "r2"),
        row(5, "r1", account=2),
    ]

    async def go():
        async with make_store() as store:
            await setup(store, rows)
            before, counted = await recipients(store), await rollups(store)
            counts = await erase(store)
            return (
                before,
                counted,
                counts,
                await recipients(store),
                await rollups(store),
                (await erasures(store)),
            )

    before, counted, counts, after, counted_after, records = asyncio.run(go())
    (r1_keys,) = [n for account, r, n in before["keys"] if (account, r) == (1, "r1")]
    assert counts == ErasureCounts(events=3, unique_keys=r1_keys, webhook_deliveries=3)
    assert after == {
        "events": [(1, "r2", "human"), (2, "r1", "human")],
        "keys": [k for k in before["keys"] if k[:2] != (1, "r1")],
        "queued": [(1, "r2", 1), (2, "r1", 1)],
        "orphans": [0],
    }
    assert counted_after == counted  # the roll-ups keep their counts
    assert records == [Erasure(1, recipient_digest("r1"), T)]


def test_every_reference_given_is_erased(make_store):
    # An address hashed under two keys (before and after a key rotation).
    rows = [row(1, "h:old"), row(2, "h:new"), row(3, "r2")]

    async def go():
        async with make_store() as store:
            await setup(store, rows)
            counts = await erase(store, ["h:new", "h:old"])
            return counts, await recipients(store)

    counts, after = asyncio.run(go())
    assert counts.events == 2
    assert after["events"] == [(1, "r2", "human")]


def test_an_erasure_repeated_deletes_nothing_more_and_moves_its_time_on(make_store):
    async def go():
        async with make_store() as store:
            await setup(store, [row(1, "r1")])
            first = await erase(store, now_ms=T)
            again = await erase(store, now_ms=T + 5000)
            late = await erase(store, now_ms=T - 5000)  # a clock set back: the time stays
            return first, again, late, await erasures(store)

    first, again, late, records = asyncio.run(go())
    assert first.events == 1
    assert again == late == ErasureCounts(0, 0, 0)
    assert records == [Erasure(1, recipient_digest("r1"), T + 5000)]


def test_events_served_before_an_erasure_and_stored_after_it_are_dropped(make_store):
    # What a spool or an ingest batch read before the erasure still holds.
    late = [
        row(1, "r1", T - 60_000),
        row(2, "r1", T),
        row(3, "r1", T + 1, type_="open"),  # served after the erasure: new engagement
        row(4, "r2", T - 60_000),
        row(5, "r1", T - 60_000, account=2),
        row(6, None, T - 60_000),
    ]

    async def go():
        async with make_store() as store:
            await setup(store, [])
            await erase(store)
            await write_batch(store, Batch(late, []))
            await Rollup(store).catch_up()
            async with store.reading() as db:
                stored = await db.events.page(EventFilter(None), limit=10)
            return [e.id for e in stored], await recipients(store)

    stored, after = asyncio.run(go())
    assert sorted(stored) == sorted(r[0] for r in late[2:])
    # The open served after the erasure opened its unique keys and is sent, as usual.
    assert (1, "r1", 2) in after["keys"]
    assert after["queued"] == [(1, "", 1), (1, "r1", 1), (1, "r2", 1), (2, "r1", 1)]


def test_an_erasure_waits_for_an_ingest_under_way_and_deletes_what_it_stored(make_store):
    async def go():
        async with make_store() as store:
            await setup(store, [])
            async with store.transaction(Role.INGESTER) as tx:
                # As write_batch does: the guard first, then the rows (none erased yet).
                assert not await tx.erasures.since(T - 60_000)
                await tx.event_writer.insert([row(1, "r1")])
                erasing = asyncio.create_task(erase(store))
                await asyncio.sleep(HEAD_START)
                waited = not erasing.done()
            return waited, await erasing, await recipients(store)

    waited, counts, after = asyncio.run(go())
    assert waited
    assert counts.events == 1
    assert after["events"] == []


def test_an_ingest_waits_for_an_erasure_under_way_and_drops_its_rows(make_store):
    async def go():
        async with make_store() as store:
            await setup(store, [])
            async with store.transaction() as tx:
                await tx.erasures.erase(1, ["r1"], now_ms=T)
                writing = asyncio.create_task(write_batch(store, Batch([row(1, "r1")], [])))
                await asyncio.sleep(HEAD_START)
                waited = not writing.done()
            await writing
            return waited, await recipients(store)

    waited, after = asyncio.run(go())
    assert waited
    assert after["events"] == []


def test_an_erasure_waits_for_a_roll_up_pass_under_way_and_deletes_the_keys_it_made(make_store):
    async def go():
        async with make_store() as store:
            await setup(store, [])
            await write_batch(store, Batch([row(1, "r1"), row(2, "r2")], []))
            now_ms = int(time.time() * 1000)
            counted = 0
            async with store.reading() as db:
                parts = db.rollups.parts
            for part in range(1, parts):  # the other parts' passes are done
                async with store.transaction(Role.INGESTER) as tx:
                    counted += await tx.rollups.count_next(100, now_ms=now_ms, part=part)
            async with store.transaction(Role.INGESTER) as tx:
                counted += await tx.rollups.count_next(100, now_ms=now_ms)
                assert counted == 2
                erasing = asyncio.create_task(erase(store))
                await asyncio.sleep(HEAD_START)
                waited = not erasing.done()
            return waited, await erasing, await recipients(store)

    waited, counts, after = asyncio.run(go())
    assert waited
    assert (counts.events, counts.webhook_deliveries) == (1, 1)
    assert counts.unique_keys > 0
    assert [k[:2] for k in after["keys"]] == [(1, "r2")]
    assert after["queued"] == [(1, "r2", 1)]


def test_an_empty_reference_erases_nothing(make_store):
    # The unique keys of events without a recipient hold '': they are nobody's to erase.
    async def go():
        async with make_store() as store:
            await setup(store, [row(1, None), row(2, "r1")])
            before = await recipients(store)
            counts = await erase(store, [""])
            return before, counts, await recipients(store), await erasures(store)

    before, counts, after, records = asyncio.run(go())
    assert counts == ErasureCounts(0, 0, 0)
    assert after == before
    assert records == []


def test_events_stored_after_the_newest_were_erased_are_counted(make_store):
    """The erased recipient clicked last: on SQLite the next event would take the erased
    one's rowid, at or below the roll-up's mark, and never be counted."""

    async def go():
        async with make_store() as store:
            await setup(store, [row(1, "r2", T - 120_000), row(2, "r1")])
            await erase(store)
            await write_batch(store, Batch([row(3, "r3", T + 60_000)], []))
            await Rollup(store).catch_up()
            async with store.reading() as db:
                pending = await db.rollups.pending()
            return await recipients(store), pending

    after, pending = asyncio.run(go())
    assert after["queued"] == [(1, "r2", 1), (1, "r3", 1)]
    assert [k[:2] for k in after["keys"]] == [(1, "r2"), (1, "r3")]
    assert not pending


def test_a_reference_holding_a_nul_names_nobody(make_store):
    async def go():
        async with make_store() as store:
            await setup(store, [row(1, "r1")])
            before = await recipients(store)
            counts = await erase(store, ["r\x001"])
            return before, counts, await recipients(store), await erasures(store)

    before, counts, after, records = asyncio.run(go())
    assert counts == ErasureCounts(0, 0, 0)
    assert after == before
    assert records == []
