"""Event recording: every served click and open is stored exactly once, whatever happens."""

from __future__ import annotations

import asyncio
import signal
import threading
import time

import httpx

from edge.events.recorder import EventRecorder
from edge.events.spool import SpoolWriter
from edge.tokens.codec import TokenCodec
from tests.conftest import SECRET, free_port, start_server_process
from tests.edge.events.test_ingester import count, ingest_spool, make_event, stored_urls
from tests.stores import store_at

CODEC = TokenCodec([SECRET])


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
    assert set(stored_urls(db)) == {f"https://example.com/{i}" for i in range(1000)}


def test_database_locked_for_two_seconds_loses_no_event_and_slows_no_redirect(live_server):
    runtime = live_server.app.runtime
    db_path = runtime.settings.database_path
    locked = threading.Event()
    release = threading.Event()

    async def hold_lock() -> None:  # another process's write transaction
        async with store_at(db_path) as store, store.transaction():
            locked.set()
            await asyncio.to_thread(release.wait, 10)

    holder = threading.Thread(target=asyncio.run, args=(hold_lock(),))
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
    assert len(set(stored_urls(db_path))) == i
    assert live_server.call(runtime.spool_backlog) == 0


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
    assert asyncio.run(ingest_spool(tmp_path)) == 5
    assert stored_urls(tmp_path / "edge.sqlite3") == [f"u{i}" for i in range(5)]
