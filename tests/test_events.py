"""Event recording: every served click and open is committed exactly once, whatever happens."""

from __future__ import annotations

import asyncio
import signal
import sqlite3
import threading
import time
from pathlib import Path

import httpx

from edge.events import Event, EventRecorder, new_event_id
from edge.journal import Journal
from edge.store import SQLiteStore, StoreUnavailable
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
    db_path = live_server.app.runtime.settings.database_path
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
    recorder = live_server.app.runtime.recorder
    assert recorder.spilling  # the writer noticed, and journalled instead of blocking
    release.set()
    holder.join()
    assert statuses == [302] * i
    assert max(latencies) < 0.5  # not one redirect waited on the lock (busy timeout is 0.2 s)
    # Once the database is back the journal is replayed; drain() waits for the writer's cycle.
    deadline = time.monotonic() + 10
    while count(db_path) < i and time.monotonic() < deadline:
        live_server.drain()
    assert count(db_path) == i
    with sqlite3.connect(db_path) as conn:
        assert conn.execute("SELECT count(DISTINCT url) FROM events").fetchone()[0] == i


async def _record(store: SQLiteStore, journal: Journal, events: list[Event]) -> None:
    await store.open()
    recorder = EventRecorder(store, journal)
    await recorder.start()
    for event in events:
        recorder.record(event)
    await recorder.stop()
    await store.close()


def make_event(i: int) -> Event:
    return Event(new_event_id(), "click", 1_700_000_000_000 + i, 1, "track.test", url=f"u{i}")


def test_journal_left_by_a_dead_process_is_replayed_at_next_start_exactly_once(tmp_path):
    db_path = tmp_path / "edge.sqlite3"
    journal_dir = tmp_path / "journal"
    events = [make_event(i) for i in range(50)]
    # Some events reached the database before it went down...
    asyncio.run(_record(SQLiteStore(db_path), Journal(journal_dir), events[:10]))
    assert count(db_path) == 10
    # ...then a process journalled 30 (including those 10 again: it could not know) and died.
    dead = Journal(journal_dir)
    dead.append(events[:30])
    dead._file.close()  # the process is gone: its lock is released, its file stays
    dead._file = None
    # The next process replays the orphan: the 20 missing ones, none twice.
    asyncio.run(_record(SQLiteStore(db_path), Journal(journal_dir), events[30:]))
    assert count(db_path) == 50
    assert list(journal_dir.glob("events-*.ndjson")) == []


def test_journal_of_a_live_process_is_left_alone(tmp_path):
    journal_dir = tmp_path / "journal"
    live = Journal(journal_dir)
    live.append([make_event(1)])
    other = Journal(journal_dir)
    assert other.replayable() == []
    live.close()
    assert other.replayable() == [live.path]


def test_torn_last_journal_line_is_skipped_and_the_rest_replayed(tmp_path):
    journal_dir = tmp_path / "journal"
    dead = Journal(journal_dir)
    dead.append([make_event(1), make_event(2)])
    dead._file.write(
        '{"id": "0660f7',
    )  # a crash in the middle of a write
    dead._file.close()
    dead._file = None
    db_path = tmp_path / "edge.sqlite3"
    asyncio.run(_record(SQLiteStore(db_path), Journal(journal_dir), []))
    assert count(db_path) == 2


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
    # "After restart": a new process replays anything journalled; then count.
    proc = start_server_process(tmp_path / "data", port)
    proc.send_signal(signal.SIGTERM)
    proc.wait(20)
    assert count(tmp_path / "data" / "edge.sqlite3") == answered


class FailingStore:
    """A store whose database is down: every insert is refused."""

    def __init__(self, store: SQLiteStore) -> None:
        self.store = store
        self.down = True

    async def insert_events(self, events):
        if self.down:
            raise StoreUnavailable("disk I/O error")
        await self.store.insert_events(events)


def test_events_stay_queued_when_neither_database_nor_journal_takes_them(tmp_path):
    refused = threading.Semaphore(0)

    class FullDisk(Journal):
        full = True

        def append(self, events):
            if self.full:
                refused.release()
                raise OSError(28, "No space left on device")
            super().append(events)

    async def run() -> int:
        store = SQLiteStore(tmp_path / "edge.sqlite3")
        await store.open()
        failing = FailingStore(store)
        journal = FullDisk(tmp_path / "journal")
        recorder = EventRecorder(failing, journal)
        recorder.retry_interval = 0.01
        await recorder.start()
        for i in range(5):
            recorder.record(make_event(i))
        for _ in range(3):  # three rounds of refused writes
            assert await asyncio.to_thread(refused.acquire, True, 10)
        assert recorder._task is not None and not recorder._task.done()  # the writer lives
        journal.full = False
        failing.down = False
        await recorder.drain()
        await recorder.stop()
        stored = [e.url async for e in store.iter_events()]
        await store.close()
        return stored

    assert asyncio.run(run()) == [f"u{i}" for i in range(5)]
