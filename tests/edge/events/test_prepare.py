"""Preparing batches: classified a slice at a time, and across nodes (the behaviour rules see
the clicks other nodes stored)."""

from __future__ import annotations

import asyncio
import time

from edge.db.postgres.store import PostgresStore
from edge.db.sqlite.store import SQLiteStore
from edge.events.classify import BehaviourRules
from edge.events.ingester import write_batch
from edge.events.prepare import EventPreparer
from edge.model.events import Event, new_event_id
from tests.stores import every_event

BROWSER = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36"
)


def click(ts_ms: int, link: str, client_ip: str = "198.51.100.7") -> Event:
    return Event(
        new_event_id(), "click", ts_ms, 1, "track.test", message="m1", recipient="r1",
        link=link, url=f"https://shop.example/{link}", client_ip=client_ip, user_agent=BROWSER,
    )  # fmt: skip


async def ingest(store: PostgresStore, preparer: EventPreparer, events: list[Event]) -> int:
    """What a node's ingester does with one batch: prepare it, store it; the relabels made."""
    batch = await preparer.prepare(store, events)
    await write_batch(store, batch)
    return len(batch.relabels)


def verdicts(events) -> list[tuple[str | None, str, str]]:
    return [(e.link, e.verdict, e.rule) for e in events]


def test_a_burst_split_across_slices_is_labelled_in_the_rows():
    """Classified one event per slice: the second click's rule still relabels the first
    click's row before it is written, not after."""
    preparer = EventPreparer()
    preparer.slice_events = 1
    now = int(time.time() * 1000)
    batch = preparer.classify([click(now, "buy"), click(now + 400, "faq")])
    assert [(r[7], r[-2], r[-1]) for r in batch.rows] == [
        ("buy", "scanner", "link_burst"),
        ("faq", "scanner", "link_burst"),
    ]
    assert batch.relabels == []


def test_the_event_loop_runs_between_slices_of_a_batch(tmp_path):
    """A batch is classified on the event loop, and the loop turns after every slice: the
    batch being written meanwhile waits at most a slice for each of its round trips."""
    log: list[str] = []

    class Logged(BehaviourRules):
        def observe(self, *args, **kwargs):
            log.append("event")
            return super().observe(*args, **kwargs)

    async def ticker() -> None:
        while True:
            log.append("turn")
            await asyncio.sleep(0)

    async def run() -> int:
        preparer = EventPreparer(behaviour=Logged())
        preparer.slice_events = 2
        now = int(time.time() * 1000)
        events = [click(now + 60_000 * i, f"l{i}", f"198.51.100.{i}") for i in range(6)]
        async with SQLiteStore(tmp_path / "edge.sqlite3") as store:
            task = asyncio.create_task(ticker())
            batch = await preparer.prepare(store, events)
            task.cancel()
        return len(batch.rows)

    assert asyncio.run(run()) == 6
    runs = "".join("e" if entry == "event" else "|" for entry in log).split("|")
    assert [len(run) for run in runs if run] == [2, 2, 2]


def test_a_link_burst_whose_clicks_reached_two_nodes_is_caught(pg_url):
    """Two links of one message clicked 0.4 s apart from one address: node a stored the
    first as a person's, node b judges the second with it and relabels both."""
    now = int(time.time() * 1000)

    async def run():
        async with PostgresStore(pg_url, node="a") as a, PostgresStore(pg_url, node="b") as b:
            assert await ingest(a, EventPreparer(), [click(now, "buy")]) == 0
            async with a.reading() as db:
                first = verdicts(await every_event(db))
            relabelled = await ingest(b, EventPreparer(), [click(now + 400, "faq")])
            async with a.reading() as db:
                return first, relabelled, verdicts(await every_event(db))

    first, relabelled, stored = asyncio.run(run())
    assert first == [("buy", "human", "default")]
    assert relabelled == 1
    assert stored == [("buy", "scanner", "link_burst"), ("faq", "scanner", "link_burst")]


def test_clicks_of_two_addresses_on_two_nodes_are_no_burst(pg_url):
    now = int(time.time() * 1000)

    async def run():
        async with PostgresStore(pg_url, node="a") as a, PostgresStore(pg_url, node="b") as b:
            await ingest(a, EventPreparer(), [click(now, "buy")])
            await ingest(b, EventPreparer(), [click(now + 400, "faq", "203.0.113.9")])
            async with a.reading() as db:
                return verdicts(await every_event(db))

    assert asyncio.run(run()) == [("buy", "human", "default"), ("faq", "human", "default")]


def test_a_node_does_not_judge_its_own_stored_clicks_twice(pg_url):
    """Node a's own earlier batch is in its window already: the store gives it only the
    other nodes' events."""
    now = int(time.time() * 1000)

    async def run():
        async with PostgresStore(pg_url, node="a") as a:
            preparer = EventPreparer()
            await ingest(a, preparer, [click(now, "buy")])
            async with a.reading() as db:
                others, _ = await db.events.others_near(
                    [(1, "m1")], now - 60_000, now + 60_000, 0
                )
            return others

    assert asyncio.run(run()) == []


def test_a_second_look_reads_only_what_other_nodes_stored_since(pg_url):
    """Each batch's window overlaps the last one's: what the last look gave is not read
    again, but a click stored since, even one older than the last look, is."""
    now = int(time.time() * 1000)

    async def run():
        async with PostgresStore(pg_url, node="a") as a, PostgresStore(pg_url, node="b") as b:
            await ingest(a, EventPreparer(), [click(now, "buy")])
            async with b.reading() as db:
                keys, window = [(1, "m1")], (now - 60_000, now + 60_000, 0)
                first, seen = await db.events.others_near(keys, *window)
                again, seen = await db.events.others_near(keys, *window, seen)
            # Node a stores a click older than b's last look (a's ingester was behind).
            await ingest(a, EventPreparer(), [click(now - 1_000, "faq")])
            async with b.reading() as db:
                late, seen = await db.events.others_near(keys, *window, seen)
                other_key, _ = await db.events.others_near([(1, "m2")], *window, seen)
                whole, _ = await db.events.others_near(keys, *window)
            return [[e.link for e in found] for found in (first, again, late, other_key, whole)]

    assert asyncio.run(run()) == [["buy"], [], ["faq"], [], ["buy", "faq"]]
