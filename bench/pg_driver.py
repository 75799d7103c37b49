"""Which PostgreSQL driver ingests events faster: asyncpg or psycopg 3 (issue 11).

Both write the same generated event rows into an events table shaped like the edge's, by
COPY (each driver's fastest bulk path), in batches of 5,000 rows each in its own transaction,
as the ingester does. Prints rows per second for each and the ratio.

    EDGE_TEST_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postgres python bench/pg_driver.py
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import time

import asyncpg
import psycopg

COLUMNS = (
    "id", "type", "ts_ms", "account_id", "domain", "message", "recipient", "link", "url",
    "client_ip", "user_agent", "method", "prefetch", "verdict", "rule",
)  # fmt: skip
TABLE = """
CREATE TABLE bench_events (
    id text NOT NULL, type text NOT NULL, ts_ms bigint NOT NULL, account_id bigint NOT NULL,
    domain text NOT NULL, message text, recipient text, link text, url text, client_ip text,
    user_agent text, method text NOT NULL, prefetch smallint NOT NULL, verdict text NOT NULL,
    rule text NOT NULL, PRIMARY KEY (id)
)
"""


def rows(n: int) -> list[tuple]:
    rnd = random.Random(7)
    t0 = 1_790_000_000_000
    out = []
    for i in range(n):
        ts = t0 + i * 3
        click = rnd.random() < 0.4
        out.append((
            f"{ts * 1000:014x}{rnd.getrandbits(64):016x}{i:08x}", "click" if click else "open",
            ts, rnd.randint(1, 50), f"track{rnd.randint(0, 9)}.brand.example",
            f"msg-{rnd.randint(0, 5000)}", f"rcpt-{rnd.getrandbits(40):x}",
            "buy" if click else None, "https://shop.example/p?utm_source=news" if click else None,
            f"203.0.{rnd.randint(0, 255)}.{rnd.randint(1, 254)}",
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/124.0",
            "GET", 0, "human", "default",
        ))  # fmt: skip
    return out


async def with_asyncpg(url: str, data: list[tuple], batch: int) -> float:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute("DROP TABLE IF EXISTS bench_events")
        await conn.execute(TABLE)
        start = time.perf_counter()
        for i in range(0, len(data), batch):
            async with conn.transaction():
                await conn.copy_records_to_table(
                    "bench_events", records=data[i : i + batch], columns=COLUMNS
                )
        return time.perf_counter() - start
    finally:
        await conn.execute("DROP TABLE IF EXISTS bench_events")
        await conn.close()


async def with_psycopg(url: str, data: list[tuple], batch: int) -> float:
    conn = await psycopg.AsyncConnection.connect(url, autocommit=True)
    try:
        await conn.execute("DROP TABLE IF EXISTS bench_events")
        await conn.execute(TABLE)
        start = time.perf_counter()
        for i in range(0, len(data), batch):
            async with conn.transaction(), conn.cursor() as cur, cur.copy(
                f"COPY bench_events ({', '.join(COLUMNS)}) FROM STDIN"
            ) as copy:
                for row in data[i : i + batch]:
                    await copy.write_row(row)
        return time.perf_counter() - start
    finally:
        await conn.execute("DROP TABLE IF EXISTS bench_events")
        await conn.close()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--batch", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    url = os.environ["EDGE_TEST_DATABASE_URL"]
    data = rows(args.rows)
    best = {"asyncpg": float("inf"), "psycopg": float("inf")}
    for _ in range(args.rounds):  # interleaved: the machine's speed drifts
        best["asyncpg"] = min(best["asyncpg"], await with_asyncpg(url, data, args.batch))
        best["psycopg"] = min(best["psycopg"], await with_psycopg(url, data, args.batch))
    for name, seconds in best.items():
        print(f"{name:8} {args.rows / seconds:10,.0f} rows/s  (best of {args.rounds})")
    print(f"asyncpg / psycopg: {best['psycopg'] / best['asyncpg']:.2f}x")


if __name__ == "__main__":
    asyncio.run(main())
