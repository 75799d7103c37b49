"""Engagement benchmark: the stats query over millions of events, and the writer's ingestion.

    python bench/stats.py [--events 5000000] [--ingest 300000] [--runs 30]

1. **Stats query.** Generates ``--events`` realistic events (60 days, 10 tracking domains,
   ten campaign messages a day, Apple MPP machine opens, Gmail proxy opens, gateway
   clicks, bursts) straight into a fresh SQLite database with ``executemany`` in large
   transactions, rolls them up with the real roll-up pass (``edge.rollup``), then times the
   stats query (``admin.stats.run_stats``: totals, daily series and top links) for a 30-day
   range and one domain, ``--runs`` times. Target: **p50 <= 50 ms**.
2. **Ingestion.** Records ``--ingest`` events as the edge does (``EventRecorder`` appending
   to the spool), then times the ingester storing them into another fresh database
   (``EventIngester``: reading the spool, classification, privacy, batched commits with the
   spool offsets) and reports events committed per second. Target: **>= 50,000/s**. The
   roll-up of those events happens behind the ingester; its rate is printed too, and so is a
   baseline measured in the same run: the same rows inserted with bare ``executemany`` (no
   spool, no classification), the ceiling this machine's SQLite sets.
"""

from __future__ import annotations

import sys
from pathlib import Path

# Keep bench/ off the import path (bench/edge.py is named like the package).
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))

import argparse  # noqa: E402
import asyncio  # noqa: E402
import random  # noqa: E402
import sqlite3  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from datetime import UTC, datetime  # noqa: E402

from admin.engagement.stats import StatsQuery, run_stats  # noqa: E402
from edge.db.repositories.stats import DAY_MS  # noqa: E402
from edge.db.sqlite.migrate import migrate  # noqa: E402
from edge.db.sqlite.store import SQLiteStore  # noqa: E402
from edge.db.store import Role  # noqa: E402
from edge.events.ingester import EventIngester, IngesterLock  # noqa: E402
from edge.events.ingester_process import tune_gc  # noqa: E402
from edge.events.prepare import EventPreparer  # noqa: E402
from edge.events.recorder import EventRecorder  # noqa: E402
from edge.events.rollup import Rollup  # noqa: E402
from edge.events.spool import SpoolReader, SpoolWriter  # noqa: E402
from edge.model.events import Event, new_event_id  # noqa: E402

DAYS = 60
DOMAINS = [f"track{i}.brand{i}.example" for i in range(10)]
LINKS = ["hero", "buy", "faq", "unsubscribe", "footer", "social"]
START = int(datetime(2026, 9, 1, tzinfo=UTC).timestamp() * 1000)
PEOPLE_UAS = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko)",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:125.0) Gecko/20100101 Firefox/125.0",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Mobile Safari/537.36",
]
GMAIL = "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)"
COLUMNS = (
    "id, type, ts_ms, account_id, domain, message, recipient, link, url, client_ip, "
    "user_agent, method, prefetch, verdict, rule"
)


def generate(total: int, seed: int = 6):
    """Yield event rows (already classified, as the writer would store them), time-ordered
    within each message. Each message goes to recipients on one domain; each recipient
    yields machine opens, opens and clicks with realistic proportions."""
    rng = random.Random(seed)
    per_message = max(1, total // (DAYS * 10))
    made = 0
    serial = 0
    for day in range(DAYS):
        for n in range(10):
            message = f"d{day}-m{n}"
            domain = DOMAINS[(day * 10 + n) % len(DOMAINS)]
            sent = START + day * DAY_MS + n * 3_600_000
            last = day == DAYS - 1 and n == 9
            budget = total - made if last else min(per_message, total - made)
            recipient = 0
            while budget > 0:
                recipient += 1
                r = f"rcpt-{recipient:06d}"
                ip = f"198.51.{rng.randrange(256)}.{rng.randrange(1, 255)}"
                ua = rng.choice(PEOPLE_UAS)
                t = sent + rng.randrange(0, 3 * DAY_MS)
                kinds = []
                roll = rng.random()
                if roll < 0.35:  # Apple MPP fetch at delivery
                    kinds.append(
                        (
                            "open",
                            sent + rng.randrange(60_000),
                            "17.58.1.9",
                            "Mozilla/5.0",
                            "machine_open",
                            "apple_mpp_ua",
                            None,
                        )
                    )
                if roll < 0.75:
                    proxied = rng.random() < 0.3
                    kinds.append(
                        (
                            "open",
                            t,
                            "66.249.84.1" if proxied else ip,
                            GMAIL if proxied else ua,
                            "proxy_open" if proxied else "human",
                            "gmail_proxy_ua" if proxied else "default",
                            None,
                        )
                    )
                    if not proxied and rng.random() < 0.3:  # opened again later
                        kinds.append(
                            (
                                "open",
                                t + rng.randrange(3_600_000, 8 * 3_600_000),
                                ip,
                                ua,
                                "human",
                                "default",
                                None,
                            )
                        )
                if rng.random() < 0.05:  # a gateway clicks every link at delivery
                    for k, link in enumerate(LINKS[:3]):
                        kinds.append(
                            (
                                "click",
                                sent + 5_000 + k * 300,
                                "40.107.22.51",
                                ua,
                                "scanner",
                                "microsoft_eop_ip",
                                link,
                            )
                        )
                if roll < 0.25:
                    link = rng.choice(LINKS)
                    kinds.append(
                        (
                            "click",
                            t + rng.randrange(10_000, 600_000),
                            ip,
                            ua,
                            "human",
                            "default",
                            link,
                        )
                    )
                if not kinds:
                    kinds.append(("open", t, ip, ua, "human", "default", None))
                take = kinds[:budget]
                for type_, ts, cip, cua, verdict, rule, link in take:
                    serial += 1
                    yield (
                        f"{ts * 1000:014x}{serial:024x}",
                        type_,
                        ts,
                        1,
                        domain,
                        message,
                        r,
                        link,
                        f"https://shop.example/{link}" if link else None,
                        cip,
                        cua,
                        "GET",
                        0,
                        verdict,
                        rule,
                    )
                budget -= len(take)
                made += len(take)
            if made >= total:
                return


def load(path: Path, total: int) -> float:
    """Generate and insert ``total`` events; returns the seconds it took."""
    migrate(path)
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA synchronous=OFF")
    started = time.perf_counter()
    batch: list[tuple] = []
    inserted = 0
    insert = f"INSERT INTO events ({COLUMNS}) VALUES ({', '.join('?' * 15)})"
    for row in generate(total):
        batch.append(row)
        if len(batch) >= 200_000:
            conn.execute("BEGIN")
            conn.executemany(insert, batch)
            conn.execute("COMMIT")
            inserted += len(batch)
            batch.clear()
            print(f"  loaded {inserted:,} events", end="\r", flush=True)
    if batch:
        conn.execute("BEGIN")
        conn.executemany(insert, batch)
        conn.execute("COMMIT")
        inserted += len(batch)
    conn.close()
    print(f"  loaded {inserted:,} events")
    return time.perf_counter() - started


async def roll_up(path: Path) -> float:
    async with SQLiteStore(path) as store:
        rollup = Rollup(store)
        started = time.perf_counter()
        total = await rollup.catch_up(chunk=100_000)
    print(f"  rolled up {total:,} events")
    return time.perf_counter() - started


async def time_query(path: Path, runs: int) -> list[float]:
    store = SQLiteStore(path)
    await store.open()
    start = START + 15 * DAY_MS
    q = StatsQuery(1, start, start + 30 * DAY_MS, group_by="day", domain=DOMAINS[3])
    timings = []
    result = None
    for _ in range(runs):
        t = time.perf_counter()
        result = await run_stats(store, q)
        timings.append((time.perf_counter() - t) * 1000)
    await store.close()
    assert result is not None
    print(f"  30-day totals for {DOMAINS[3]}: {result['totals']}")
    return timings


def ingest_events(n: int) -> list[Event]:
    rng = random.Random(7)
    now = int(time.time() * 1000)
    events = []
    for i in range(n):
        type_ = "click" if i % 3 == 0 else "open"
        link = LINKS[i % len(LINKS)] if type_ == "click" else None
        events.append(
            Event(
                new_event_id(),
                type_,
                now + i // 50,
                1,
                DOMAINS[i % len(DOMAINS)],
                f"m{i % 40}",
                f"rcpt-{rng.randrange(200_000):06d}",
                link,
                f"https://shop.example/{link}" if link else None,
                f"198.51.{rng.randrange(256)}.{rng.randrange(1, 255)}",
                PEOPLE_UAS[i % len(PEOPLE_UAS)] if i % 7 else "Mozilla/5.0",
                "GET",
                False,
            )
        )
    return events


async def ingest(directory: Path, n: int) -> tuple[float, float, float]:
    """Events stored per second by the ingester (spool → classified rows), the roll-up's
    rate, and the bare-insert baseline."""
    store = SQLiteStore(directory / "ingest.sqlite3")
    await store.open()
    # What the serving processes do: append to the spool, here a record per thousand events
    # (a worker writes one record per event-loop turn, before that turn's responses).
    recorder = EventRecorder(SpoolWriter(directory / "spool"))
    await recorder.start()
    events = ingest_events(n)
    for i, e in enumerate(events, 1):
        recorder.record(e)
        if i % 1000 == 0:
            recorder.flush()
    await recorder.stop()
    assert recorder.spooled == n, "events not spooled"
    # What the ingester does with them: read, classify, apply privacy, commit in batches;
    # with the garbage collector tuned as in its own process (edge.ingester_process).
    tune_gc()
    ingester = EventIngester(
        store,
        EventPreparer(),
        SpoolReader(directory / "spool"),
        IngesterLock(directory / "ingester.lock"),
    )
    started = time.perf_counter()
    committed = await ingester.catch_up()
    writer_rate = committed / (time.perf_counter() - started)
    assert committed == n, "events lost"
    await ingester.stop()
    rollup = Rollup(store)
    started = time.perf_counter()
    rolled = await rollup.catch_up(chunk=20_000)
    rollup_rate = rolled / (time.perf_counter() - started)
    await store.close()
    # Baseline in the same run: the same events, classified beforehand, inserted with plain
    # executemany in batches of the writer's size (no classification, no recorder).
    baseline = SQLiteStore(directory / "baseline.sqlite3")
    await baseline.open()
    rows = EventPreparer().classify(events).rows
    insert = f"INSERT OR IGNORE INTO events ({COLUMNS}) VALUES ({', '.join('?' * 15)})"
    started = time.perf_counter()
    for i in range(0, len(rows), 5000):
        async with baseline.transaction(Role.INGESTER) as tx:
            await tx.conn.executemany(insert, rows[i : i + 5000])
    insert_rate = len(rows) / (time.perf_counter() - started)
    await baseline.close()
    return writer_rate, rollup_rate, insert_rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=5_000_000)
    parser.add_argument("--ingest", type=int, default=300_000)
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-stats-") as tmp:
        directory = Path(tmp)
        path = directory / "stats.sqlite3"
        print(f"1. stats query over {args.events:,} events")
        load_s = load(path, args.events)
        roll_s = asyncio.run(roll_up(path))
        with sqlite3.connect(path) as db:
            hourly = db.execute("SELECT count(*) FROM rollups_hourly").fetchone()[0]
            daily = db.execute("SELECT count(*) FROM rollups_daily").fetchone()[0]
        print(
            f"  load {load_s:.1f} s, roll-up {roll_s:.1f} s "
            f"({args.events / roll_s:,.0f} events/s); {hourly:,} hourly, {daily:,} daily rows"
        )
        timings = asyncio.run(time_query(path, args.runs))
        p50 = statistics.median(timings)
        p95 = sorted(timings)[int(len(timings) * 0.95) - 1]
        verdict = "met" if p50 <= 50 else "MISSED"
        print(
            f"  stats query, 30 days, one domain, {args.runs} runs: p50 {p50:.1f} ms, "
            f"p95 {p95:.1f} ms, max {max(timings):.1f} ms  (target p50 <= 50 ms: {verdict})"
        )
        print(f"2. ingestion of {args.ingest:,} events: recorder to spool, ingester to database")
        writer_rate, rollup_rate, insert_rate = asyncio.run(ingest(directory, args.ingest))
        verdict = "met" if writer_rate >= 50_000 else "MISSED"
        print(
            f"  committed {writer_rate:,.0f} events/s (target >= 50,000/s: {verdict}); "
            f"roll-up behind the ingester {rollup_rate:,.0f} events/s; baseline: bare "
            f"executemany of the same rows {insert_rate:,.0f} events/s"
        )


if __name__ == "__main__":
    main()
