"""Event recording: every served click and open is stored exactly once, whatever happens."""

from __future__ import annotations

import asyncio
import json
import signal
import sqlite3
import threading
import time
from pathlib import Path

import httpx

from edge.config import Settings
from edge.events import Event, EventRecorder, new_event_id
from edge.ingester import EventIngester
from edge.spool import SpoolWriter
from edge.store import SQLiteStore
from edge.tokens import TokenCodec
from tests.conftest import SECRET, free_port, start_server_process

CODEC = TokenCodec([SECRET])


def count(db_path: Path, where: str = "1 = 1") -> int:
    with sqlite3.connect(db_path) as db:
        return db.execute(f"SELECT count(*) FROM events WHERE {where}").fetchone()[0]


async def concurrent_clicks(url: str, n: int, *, concurrency: int = 100) -> list[int]:
    """``n`` clicks, ``concurrency`` at a time; returns the status codes."""
    tokens = [CODEC.sign_click(1, f"https://example.com/{i}", message="load") for i in range(n)]
    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, headers={"host": "track.test"}, limits=limits) as c:
        sem = asyncio.Semaphore(concurrency)

        async def one(token: str) -> int:
            async with sem:
                return (await c.get(f"/e/{token}")).status_code

        return await asyncio.gather(*(one(t) for t in tokens))


def test_a_thousand_concurrent_clicks_make_exactly_a_thousand_events(live_server):
    statuses = asyncio.run(concurrent_clicks(live_server.url, 1000))
    assert statuses == [302] * 1000
    live_server.drain()
    db = live_server.app.runtime.settings.database_path
    assert count(db) == 1000
    with sqlite3.connect(db) as conn:
        urls = {row[0] for row in conn.execute("SELECT url FROM events")}
    assert urls == {f"https://example.com/{i}" for i in range(1000)}


def test_database_locked_for_two_seconds_loses_no_event_and_slows_no_redirect(live_server):
    runtime = live_server.app.runtime
    db_path = runtime.settings.database_path
    locked = threading.Event()
    release = threading.Event()

    def hold_lock() -> None:
        conn = sqlite3.connect(db_path, isolation_level=None)
        conn.execute("BEGIN EXCLUSIVE")
        locked.set()
        release.wait(10)
        conn.execute("COMMIT")
        conn.close()

    holder = threading.Thread(target=hold_lock)
    holder.start()
    assert locked.wait(5)
    started = time.monotonic()
    statuses: list[int] = []
    latencies: list[float] = []
    with live_server.client("track.test") as client:
        i = 0
        while time.monotonic() - started < 2.0:  # keep clicking while the lock is held
            token = CODEC.sign_click(1, f"https://example.com/{i}")
            t0 = time.monotonic()
            statuses.append(client.get(f"/e/{token}").status_code)
            latencies.append(time.monotonic() - t0)
            i += 1
    live_server.call(runtime.recorder.drain)
    # The ingester could not commit: every event is waiting in the spool, none lost.
    assert count(db_path) == 0
    assert live_server.call(runtime.spool_backlog) > 0
    release.set()
    holder.join()
    assert statuses == [302] * i
    assert max(latencies) < 0.5  # not one redirect waited on the lock
    live_server.drain()  # the ingester's next round stores them
    assert count(db_path) == i
    with sqlite3.connect(db_path) as conn:
        assert conn.execute("SELECT count(DISTINCT url) FROM events").fetchone()[0] == i
    assert live_server.call(runtime.spool_backlog) == 0


def make_event(i: int) -> Event:
    return Event(new_event_id(), "click", 1_700_000_000_000 + i, 1, "track.test", url=f"u{i}")


async def _ingest(data_dir: Path) -> int:
    """What the next process to take the ingester lock does: ingest the whole spool."""
    settings = Settings(data_dir=data_dir)
    store = SQLiteStore(settings.database_path)
    await store.open()
    ingester = EventIngester.from_settings(settings, store)
    try:
        return await ingester.catch_up()
    finally:
        await ingester.stop()
        await store.close()


def spool_files(data_dir: Path) -> list[Path]:
    return sorted((data_dir / "spool").glob("events-*.ndjson"))


def test_spool_left_by_a_dead_process_is_ingested_at_next_start(tmp_path):
    dead = SpoolWriter(tmp_path / "spool")
    dead.write([make_event(i).row() for i in range(30)])
    dead.close()  # the process is gone: its lock is released, its segment stays
    assert asyncio.run(_ingest(tmp_path)) == 30
    assert count(tmp_path / "edge.sqlite3") == 30
    assert spool_files(tmp_path) == []  # read to its end, sealed: deleted
    with sqlite3.connect(tmp_path / "edge.sqlite3") as db:
        assert db.execute("SELECT count(*) FROM spool_progress").fetchone()[0] == 0


def test_an_ingester_that_died_after_a_commit_repeats_nothing(tmp_path):
    events = [make_event(i) for i in range(30)]
    writer = SpoolWriter(tmp_path / "spool")
    first = writer.write([e.row() for e in events[:10]])
    writer.write([e.row() for e in events[10:]])
    writer.close()

    async def commit_first_line_then_die() -> None:
        store = SQLiteStore(tmp_path / "edge.sqlite3")
        await store.open()
        await store.insert_events(events[:10], [(writer.path.name, first)])
        await store.close()

    asyncio.run(commit_first_line_then_die())
    assert asyncio.run(_ingest(tmp_path)) == 20  # from the committed offset on
    with sqlite3.connect(tmp_path / "edge.sqlite3") as db:
        urls = [row[0] for row in db.execute("SELECT url FROM events ORDER BY id")]
    assert urls == [f"u{i}" for i in range(30)]


def test_segment_of_a_live_writer_is_ingested_but_kept_until_sealed(tmp_path):
    live = SpoolWriter(tmp_path / "spool")
    live.write([make_event(1).row()])
    assert asyncio.run(_ingest(tmp_path)) == 1
    assert spool_files(tmp_path) == [live.path]  # its writer may append more
    live.write([make_event(2).row()])
    live.close()
    assert asyncio.run(_ingest(tmp_path)) == 1  # only the new line
    assert spool_files(tmp_path) == []
    assert count(tmp_path / "edge.sqlite3") == 2


def test_torn_last_line_of_a_sealed_segment_is_skipped_and_the_rest_ingested(tmp_path):
    dead = SpoolWriter(tmp_path / "spool")
    dead.write([make_event(1).row(), make_event(2).row()])
    with open(dead.path, "a") as segment:
        segment.write('[["0660f7", "cli')  # an operating-system crash in the middle of a write
    dead.close()
    assert asyncio.run(_ingest(tmp_path)) == 2
    assert spool_files(tmp_path) == []


def test_an_unfinished_line_of_a_live_segment_waits_for_its_end(tmp_path):
    live = SpoolWriter(tmp_path / "spool")
    live.write([make_event(1).row()])
    line = (json.dumps([make_event(2).row()]) + "\n").encode()
    with open(live.path, "ab", buffering=0) as segment:  # the writer still holds its lock
        segment.write(line[:20])  # caught halfway through a write
        assert asyncio.run(_ingest(tmp_path)) == 1  # the whole line before it only
        segment.write(line[20:])
    assert asyncio.run(_ingest(tmp_path)) == 1
    assert count(tmp_path / "edge.sqlite3") == 2


def test_one_ingester_per_data_dir_and_a_standby_takes_over(tmp_path):
    async def run() -> tuple[bool, bool, int]:
        settings = Settings(data_dir=tmp_path)
        store = SQLiteStore(settings.database_path)
        await store.open()
        first = EventIngester.from_settings(settings, store)
        second = EventIngester.from_settings(settings, store)
        second.standby_interval = 0.01
        await first.start()
        await second.start()
        await asyncio.sleep(0)  # both tried the lock
        both = first.lock.held and second.lock.held
        writer = SpoolWriter(settings.spool_dir)
        writer.write([make_event(1).row()])
        writer.close()
        await first.stop()  # ingests the spool, then lets go of the lock
        while not second.lock.held:
            await asyncio.sleep(0.01)
        writer = SpoolWriter(settings.spool_dir)
        writer.write([make_event(2).row()])
        writer.close()
        await second.catch_up()
        await second.stop()
        await store.close()
        return both, first.committed, second.committed

    assert asyncio.run(run()) == (False, 1, 1)


def test_sigterm_under_load_keeps_every_event_whose_response_was_sent(tmp_path):
    port = free_port()
    proc = start_server_process(tmp_path / "data", port)
    answered = 0
    stop = threading.Event()

    def load() -> None:
        nonlocal answered
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers={"host": "track.test"}) as c:
            i = 0
            while not stop.is_set():
                try:
                    response = c.get(f"/e/{CODEC.sign_click(1, f'https://example.com/{i}')}")
                except httpx.TransportError:
                    return  # the server is going away
                if response.status_code == 302:
                    answered += 1
                i += 1

    threads = [threading.Thread(target=load) for _ in range(4)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 10
    while answered < 300 and time.monotonic() < deadline:
        time.sleep(0.01)
    proc.send_signal(signal.SIGTERM)
    # uvicorn re-raises the signal it caught once shut down, so the status says SIGTERM.
    assert proc.wait(20) == -signal.SIGTERM
    stop.set()
    for t in threads:
        t.join()
    assert answered >= 300
    # "After restart": a new process ingests anything left in the spool; then count.
    proc = start_server_process(tmp_path / "data", port)
    proc.send_signal(signal.SIGTERM)
    proc.wait(20)
    assert count(tmp_path / "data" / "edge.sqlite3") == answered


def test_events_stay_in_memory_while_the_spool_cannot_be_written(tmp_path):
    class FullDisk(SpoolWriter):
        full = True

        def write(self, rows):
            if self.full:
                raise OSError(28, "No space left on device")
            return super().write(rows)

    async def run() -> tuple[int, int]:
        spool = FullDisk(tmp_path / "spool")
        recorder = EventRecorder(spool)
        recorder.retry_interval = 0.01
        await recorder.start()
        for i in range(5):
            recorder.record(make_event(i))
        assert recorder.flush() is False  # refused: kept, in order
        pending = recorder.pending
        spool.full = False
        await recorder.drain()
        await recorder.stop()
        return pending, recorder.spooled

    assert asyncio.run(run()) == (5, 5)
    assert asyncio.run(_ingest(tmp_path)) == 5
    with sqlite3.connect(tmp_path / "edge.sqlite3") as db:
        assert [r[0] for r in db.execute("SELECT url FROM events ORDER BY id")] == [
            f"u{i}" for i in range(5)
        ]
