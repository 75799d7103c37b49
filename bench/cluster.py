"""Cluster benchmark: PostgreSQL as the shared store, and clicks through nginx to two nodes.

    python bench/cluster.py [--ingest 300000] [--rounds 3] [--events 5000000] [--runs 30]
                            [--duration 30] [--connections 50] [--only ingest,stats,nginx]

Uses the PostgreSQL server at ``--database-url`` (default ``EDGE_TEST_DATABASE_URL``), else
starts a throwaway one on loopback (``tests/postgres.py``, as the test command does); every
part works in fresh databases of its own, dropped at the end. Each figure is printed beside
a baseline measured in the same run:

1. **Ingestion.** ``--ingest`` events recorded as the edge does (``EventRecorder`` appending
   to the spool), then stored by the real ingester (``EventIngester`` on a ``PostgresStore``:
   reading the spool, classification with the other nodes' events, privacy, erasures, COPY
   into the day partitions, spool offsets, one transaction per batch of 10,000, the
   default), in events committed per second, against a bare ``COPY`` of the same rows
   (classified beforehand) into the same table in transactions of the same size, numbered
   as the ingester numbers its own. Target: **>= 0.7x bare COPY**.
   Both run ``--rounds`` times, interleaved, each time into fresh databases.
2. **Roll-up.** After each round's ingest, the real roll-up pass (``Rollup.catch_up`` with
   the ingester's chunk) counts those events (unique keys, hourly and daily roll-ups, webhook
   queue); its rate against the ingest rate. Target: **>= 1.0x** (the stats never fall
   behind the ingest).
3. **Stats query.** ``--events`` generated events (60 days, 10 domains; ``bench/stats.py``'s
   generator) loaded by COPY, rolled up with the real pass, then the stats query
   (``run_stats``: totals, daily series, top links) for 30 days and one domain, ``--runs``
   times. Target: **p50 <= 50 ms**.
4. **Clicks through nginx.** Two ``tracking-edge serve`` nodes (one worker and their own
   ingester each) on one PostgreSQL database behind nginx (round-robin, keep-alive to the
   nodes), against one node hit directly and one node behind the same nginx, in interleaved
   rounds with wrk (else a Python load generator); then waits until the events stored equal
   the redirects answered. No target: on a 2-core machine the load generator, nginx, the
   nodes, their ingesters and PostgreSQL all share the same two cores.
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
import contextlib  # noqa: E402
import importlib.util  # noqa: E402
import os  # noqa: E402
import shutil  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections.abc import Iterator  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from datetime import UTC, datetime  # noqa: E402
from types import ModuleType  # noqa: E402

import asyncpg  # noqa: E402

from admin.engagement.stats import StatsQuery, run_stats  # noqa: E402
from edge.config import SETTINGS  # noqa: E402
from edge.db.postgres.store import PostgresStore  # noqa: E402
from edge.db.repositories.stats import DAY_MS  # noqa: E402
from edge.events.ingester import EventIngester, IngesterLock  # noqa: E402
from edge.events.ingester_process import tune_gc  # noqa: E402
from edge.events.prepare import EventPreparer  # noqa: E402
from edge.events.recorder import EventRecorder  # noqa: E402
from edge.events.rollup import Rollup  # noqa: E402
from edge.events.spool import SpoolReader, SpoolWriter  # noqa: E402
from edge.model.events import STORED_FIELDS, Event  # noqa: E402
from edge.tokens.codec import TokenCodec  # noqa: E402
from tests.postgres import fresh_database, throwaway_cluster  # noqa: E402


def _sibling(name: str) -> ModuleType:
    """Another benchmark of this folder, for its generators and load drivers."""
    spec = importlib.util.spec_from_file_location(f"bench_{name}", _HERE / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


stats_bench = _sibling("stats")  # the 60-day generator and the ingest events
edge_bench = _sibling("edge")  # wrk and the Python load generator

COLUMNS = [*STORED_FIELDS, "node", "batch"]
#: Events per ingest transaction: the ingester's default (EDGE_EVENT_BATCH_SIZE).
BATCH: int = SETTINGS["event_batch_size"].default


def rate(events: int, seconds: float) -> float:
    return events / seconds if seconds else float("inf")


# -- 1 and 2: ingestion and roll-up -------------------------------------------------------


@dataclass
class IngestRound:
    ingest_rate: float
    rollup_rate: float
    copy_rate: float


async def ingest_and_roll_up(url: str, work: Path, events: list[Event]) -> tuple[float, float]:
    """The real path: recorder → spool → ingester into ``url``; then the roll-up pass.
    Returns (events committed per second, events rolled up per second)."""
    spool = work / "spool"
    recorder = EventRecorder(SpoolWriter(spool))
    await recorder.start()
    for i, e in enumerate(events, 1):
        recorder.record(e)
        if i % 1000 == 0:  # a worker writes a record per event-loop turn
            recorder.flush()
    await recorder.stop()
    assert recorder.spooled == len(events), "events not spooled"
    async with PostgresStore(url, node="bench-a") as store:
        ingester = EventIngester(
            store, EventPreparer(), SpoolReader(spool), IngesterLock(work / "ingester.lock")
        )
        started = time.perf_counter()
        committed = await ingester.catch_up()
        ingest_s = time.perf_counter() - started
        await ingester.stop()
        assert committed == len(events), f"{committed} of {len(events)} events committed"
        rollup = Rollup(store)
        started = time.perf_counter()
        rolled = await rollup.catch_up()  # the ingester's chunk, as between its rounds
        rollup_s = time.perf_counter() - started
        assert rolled == len(events), f"{rolled} of {len(events)} events rolled up"
    return rate(committed, ingest_s), rate(rolled, rollup_s)


async def bare_copy(url: str, rows: list[tuple[object, ...]]) -> float:
    """The same rows by COPY into the same (migrated) table, a transaction per batch, each
    batch numbered as the ingester numbers its own: the rows go as they are, and the
    ``node`` and ``batch`` columns take the transaction's settings (migration 10), the
    fastest way to store them. Nothing else. Returns rows per second."""
    async with PostgresStore(url, node="bench-copy"):
        pass  # migrated: the same partitions and indexes as the ingester's database
    conn = await asyncpg.connect(url)
    try:
        started = time.perf_counter()
        for n, i in enumerate(range(0, len(rows), BATCH), 1):
            async with conn.transaction():
                await conn.execute(
                    "SELECT set_config('edge.node', 'bench-copy', true), "
                    "set_config('edge.batch', $1, true)",
                    str(n),
                )
                await conn.copy_records_to_table(
                    "events", records=rows[i : i + BATCH], columns=STORED_FIELDS
                )
        return rate(len(rows), time.perf_counter() - started)
    finally:
        await conn.close()


def ingestion(server: str, total: int, rounds: int) -> list[IngestRound]:
    per_round = total // rounds
    events = stats_bench.ingest_events(per_round)
    rows = EventPreparer().classify(events).rows
    tune_gc()  # as in the ingester's own process (edge/events/ingester_process.py)
    results = []
    for n in range(rounds):
        ingest_rate = rollup_rate = copy_rate = 0.0
        # Interleaved, each round starting with the other: the machine's speed drifts.
        for which in ("ingest", "copy") if n % 2 == 0 else ("copy", "ingest"):
            with fresh_database(server) as url, tempfile.TemporaryDirectory() as tmp:
                if which == "ingest":
                    ingest_rate, rollup_rate = asyncio.run(
                        ingest_and_roll_up(url, Path(tmp), events)
                    )
                else:
                    copy_rate = asyncio.run(bare_copy(url, rows))
        results.append(IngestRound(ingest_rate, rollup_rate, copy_rate))
        r = results[-1]
        print(
            f"  round {n + 1}: ingester {r.ingest_rate:,.0f}/s, bare COPY {r.copy_rate:,.0f}/s "
            f"({r.ingest_rate / r.copy_rate:.2f}x); roll-up {r.rollup_rate:,.0f}/s "
            f"({r.rollup_rate / r.ingest_rate:.2f}x the ingest)"
        )
    return results


def report_ingestion(total: int, results: list[IngestRound]) -> None:
    # Over all rounds: events over the summed time, as one long run would see them.
    per = total // len(results)

    def overall(rates: list[float]) -> float:
        return per * len(rates) / sum(per / r for r in rates)

    ingest = overall([r.ingest_rate for r in results])
    copy = overall([r.copy_rate for r in results])
    rolled = overall([r.rollup_rate for r in results])
    ratio, behind = ingest / copy, rolled / ingest
    print(
        f"  ingester {ingest:,.0f} events/s committed; bare COPY of the same rows "
        f"{copy:,.0f} rows/s; ratio {ratio:.2f} "
        f"(target >= 0.7: {'met' if ratio >= 0.7 else 'MISSED'})"
    )
    print(
        f"  roll-up {rolled:,.0f} events/s; {behind:.2f}x the ingest rate "
        f"(target >= 1.0: {'met' if behind >= 1.0 else 'MISSED'})"
    )


# -- 3: the stats query -------------------------------------------------------------------


async def load_events(url: str, total: int) -> float:
    """``total`` generated events into the migrated database by COPY, numbered as one
    node's batches of :data:`BATCH`, with that node's batch counter; returns seconds."""
    async with PostgresStore(url, node="bench-load"):
        pass
    conn = await asyncpg.connect(url)
    try:
        first = datetime.fromtimestamp(stats_bench.START / 1000, UTC).date()
        # The generator's 60 days, and the three after them its late opens reach.
        await conn.execute("SELECT ensure_event_partitions($1, $2)", first, stats_bench.DAYS + 4)
        started = time.perf_counter()
        records: list[tuple[object, ...]] = []
        loaded = 0
        for n, row in enumerate(stats_bench.generate(total)):
            records.append((*row, "bench-load", n // BATCH + 1))
            if len(records) >= 40 * BATCH:
                loaded += await _copy(conn, records)
                print(f"  loaded {loaded:,} events", end="\r", flush=True)
        loaded += await _copy(conn, records)
        await conn.execute(
            "INSERT INTO ingest_batches (node, batch) VALUES ('bench-load', $1)",
            (loaded - 1) // BATCH + 1,
        )
        print(f"  loaded {loaded:,} events")
        return time.perf_counter() - started
    finally:
        await conn.close()


async def _copy(conn: asyncpg.Connection, records: list[tuple[object, ...]]) -> int:
    n = len(records)
    if n:
        async with conn.transaction():
            await conn.copy_records_to_table("events", records=records, columns=COLUMNS)
        records.clear()
    return n


async def roll_up_all(url: str) -> tuple[int, float]:
    async with PostgresStore(url, node="bench-load") as store:
        started = time.perf_counter()
        total = await Rollup(store).catch_up(chunk=100_000)
        return total, time.perf_counter() - started


async def time_query(url: str, runs: int) -> list[float]:
    async with PostgresStore(url, node="bench-load") as store:
        start = stats_bench.START + 15 * DAY_MS
        domain = stats_bench.DOMAINS[3]
        q = StatsQuery(1, start, start + 30 * DAY_MS, group_by="day", domain=domain)
        result = await run_stats(store, q)  # the pool's connection made, plans cached
        timings = []
        for _ in range(runs):
            t = time.perf_counter()
            result = await run_stats(store, q)
            timings.append((time.perf_counter() - t) * 1000)
    print(f"  30-day totals for {domain}: {result['totals']}")
    return timings


async def rollup_rows(url: str) -> tuple[int, int]:
    conn = await asyncpg.connect(url)
    try:
        hourly = await conn.fetchval("SELECT count(*) FROM rollups_hourly")
        daily = await conn.fetchval("SELECT count(*) FROM rollups_daily")
        return int(hourly), int(daily)
    finally:
        await conn.close()


def stats_query(server: str, total: int, runs: int) -> None:
    with fresh_database(server) as url:
        load_s = asyncio.run(load_events(url, total))
        rolled, roll_s = asyncio.run(roll_up_all(url))
        assert rolled == total, f"{rolled} of {total} events rolled up"
        hourly, daily = asyncio.run(rollup_rows(url))
        print(
            f"  load (COPY) {load_s:.1f} s ({rate(total, load_s):,.0f} events/s); roll-up "
            f"{roll_s:.1f} s ({rate(total, roll_s):,.0f} events/s); {hourly:,} hourly, "
            f"{daily:,} daily rows"
        )
        timings = asyncio.run(time_query(url, runs))
    p50 = statistics.median(timings)
    p95 = sorted(timings)[max(0, int(len(timings) * 0.95) - 1)]
    print(
        f"  stats query, 30 days, one domain, {runs} runs: p50 {p50:.1f} ms, p95 {p95:.1f} ms, "
        f"max {max(timings):.1f} ms  (target p50 <= 50 ms: {'met' if p50 <= 50 else 'MISSED'})"
    )


# -- 4: clicks through nginx --------------------------------------------------------------

NGINX_CONF = """
daemon off;
master_process on;
worker_processes 1;
pid {work}/nginx.pid;
error_log {work}/nginx-error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {work}/body;
    proxy_temp_path {work}/proxy;
    fastcgi_temp_path {work}/fastcgi;
    uwsgi_temp_path {work}/uwsgi;
    scgi_temp_path {work}/scgi;
    upstream one {{ server 127.0.0.1:{a}; keepalive 32; }}
    upstream two {{ server 127.0.0.1:{a}; server 127.0.0.1:{b}; keepalive 64; }}
    server {{
        listen 127.0.0.1:{one_port};
        location / {{
            proxy_pass http://one;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
        }}
    }}
    server {{
        listen 127.0.0.1:{two_port};
        location / {{
            proxy_pass http://two;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
        }}
    }}
}}
"""


def nginx_binary() -> str:
    found = shutil.which("nginx") or (
        "/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None
    )
    if found is None:
        raise SystemExit("nginx is not installed (Debian: apt-get install nginx-light)")
    return found


def clicks(server: str, args: argparse.Namespace) -> int:
    use_wrk = shutil.which("wrk") is not None and not args.python_load
    nginx = nginx_binary()
    codec = TokenCodec([edge_bench.SECRET])
    paths = [
        "/e/" + codec.sign_click(1, url, message=f"m{i % 50}", link=f"l{i % 7}")
        for i, url in enumerate(
            f"https://example.com/article/{n}?utm_source=news" for n in range(1000)
        )
    ]
    root = _HERE.parent
    with fresh_database(server) as url, tempfile.TemporaryDirectory(prefix="cluster-bench-") as tmp:
        work = Path(tmp)
        paths_file = work / "paths.txt"
        paths_file.write_text("\n".join(paths) + "\n")
        ports = {"a": edge_bench.free_port(), "b": edge_bench.free_port()}
        nodes: dict[str, subprocess.Popen[bytes]] = {}
        proxy: subprocess.Popen[bytes] | None = None
        try:
            for name, port in ports.items():
                env = {
                    **os.environ,
                    "EDGE_DATABASE_URL": url,
                    "EDGE_NODE_ID": f"node-{name}",
                    "EDGE_DATA_DIR": str(work / name),
                    "EDGE_SECRET_KEYS": edge_bench.SECRET,
                    "EDGE_DEFAULT_DOMAIN": edge_bench.HOST,
                    "EDGE_ADMIN_HOST": "admin.bench",
                }
                # One node at a time: the first migrates the fresh database.
                nodes[name] = subprocess.Popen(
                    [sys.executable, "-m", "admin.cli", "serve", "--port", str(port),
                     "--workers", "1"],
                    cwd=root, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                )  # fmt: skip
                edge_bench.wait_ready(port, nodes[name])
            one_port, two_port = edge_bench.free_port(), edge_bench.free_port()
            for sub in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
                (work / sub).mkdir()
            conf = work / "nginx.conf"
            conf.write_text(NGINX_CONF.format(work=work, a=ports["a"], b=ports["b"],
                                              one_port=one_port, two_port=two_port))  # fmt: skip
            proxy = subprocess.Popen([nginx, "-p", str(work), "-c", str(conf)], cwd=work)
            edge_bench.wait_ready(one_port, proxy)
            edge_bench.wait_ready(two_port, proxy)
            # The CPU counted is node a's, in every setup.
            setups = {
                "one node, direct": (ports["a"], nodes["a"].pid),
                "one node, nginx": (one_port, nodes["a"].pid),
                "two nodes, nginx": (two_port, nodes["a"].pid),
            }
            print(
                f"  load: {'wrk' if use_wrk else 'python'}, {args.connections} connections, "
                f"{args.duration} s per setup in {args.rounds} interleaved rounds"
            )
            for port, pid in setups.values():  # warm-up
                edge_bench.load("warm-up", port, paths, paths_file, 2, args.connections,
                                use_wrk, pid)  # fmt: skip
            names = list(setups)
            rounds = edge_bench.interleaved(
                setups, args.rounds, max(2, args.duration // args.rounds), paths, paths_file,
                args.connections, use_wrk,
            )  # fmt: skip
            results = {name: edge_bench.combine(name, rounds[name]) for name in names}
            load_ended = time.monotonic()
            served = sum(edge_bench._health(p)["redirects_served"] for p in ports.values())
            stored = edge_bench.wait_stored(
                lambda: PostgresStore(url, node="bench-count"), served, 600
            )
            catch_up = time.monotonic() - load_ended
        finally:
            if proxy is not None:
                proxy.terminate()
                proxy.wait(30)
            for node in nodes.values():
                if node.poll() is None:
                    node.terminate()
                    node.wait(60)
    print(f"  {'setup':18} {'requests/s':>12} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7}")
    for r in results.values():
        print(f"  {r.name:18} {r.rps:12,.0f} {r.p50_ms:8.2f} {r.p99_ms:8.2f} {r.errors:7}")
    direct = results["one node, direct"].rps
    behind = results["one node, nginx"].rps
    two = results["two nodes, nginx"].rps
    print(
        f"  two nodes through nginx / one node direct: {two / direct:.2f}x; "
        f"/ one node through nginx: {two / behind:.2f}x (no target: one 2-core machine "
        "runs the load, nginx, both nodes, their ingesters and PostgreSQL)"
    )
    print(
        f"  redirects answered {served:,}; click events stored {stored:,} "
        f"({'equal' if stored == served else 'NOT EQUAL'}), "
        f"the last {catch_up:.1f} s after the load"
    )
    return 0 if stored == served else 1


# -- the run ------------------------------------------------------------------------------


@contextlib.contextmanager
def postgres_server(url: str | None) -> Iterator[str]:
    if url:
        yield url
        return
    with throwaway_cluster(edge_bench.free_port()) as started:
        yield started


async def server_settings(url: str) -> str:
    conn = await asyncpg.connect(url)
    try:
        version = await conn.fetchval("SHOW server_version")
        names = ("fsync", "synchronous_commit", "shared_buffers")
        shown = [f"{n}={await conn.fetchval(f'SHOW {n}')}" for n in names]
        return f"PostgreSQL {version} ({', '.join(shown)})"
    finally:
        await conn.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=os.environ.get("EDGE_TEST_DATABASE_URL"),
                        help="a PostgreSQL server to work on (default: EDGE_TEST_DATABASE_URL, "
                        "else a throwaway one is started)")  # fmt: skip
    parser.add_argument("--ingest", type=int, default=300_000, help="events ingested in all")
    parser.add_argument(
        "--rounds", type=int, default=3, help="interleaved rounds (ingestion, clicks)"
    )
    parser.add_argument("--events", type=int, default=5_000_000, help="events under the stats")
    parser.add_argument("--runs", type=int, default=30, help="timed stats queries")
    parser.add_argument("--duration", type=int, default=30,
                        help="seconds of load per setup, over all rounds")  # fmt: skip
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--python-load", action="store_true", help="do not use wrk")
    parser.add_argument("--only", default="ingest,stats,nginx",
                        help="comma-separated parts to run: ingest, stats, nginx")  # fmt: skip
    args = parser.parse_args()
    parts = set(args.only.split(","))
    with postgres_server(args.database_url) as server:
        print(asyncio.run(server_settings(server)))
        if "ingest" in parts:
            print(
                f"1-2. ingestion of {args.ingest:,} events in {args.rounds} interleaved rounds "
                "(recorder to spool, ingester to PostgreSQL) against a bare COPY; roll-up behind"
            )
            report_ingestion(args.ingest, ingestion(server, args.ingest, args.rounds))
        if "stats" in parts:
            print(f"3. stats query over {args.events:,} events")
            stats_query(server, args.events, args.runs)
        if "nginx" in parts:
            print("4. clicks through nginx: two nodes on one PostgreSQL, against one node")
            return clicks(server, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
