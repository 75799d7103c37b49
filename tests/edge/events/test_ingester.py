"""The ingester: the spool into the store, exactly once, one ingester per data directory."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from edge.config import Settings
from edge.db.factory import store_for
from edge.db.repositories import Repositories
from edge.db.sqlite.store import SQLiteStore
from edge.db.store import Role, StoreUnavailable
from edge.events.ingester import EventIngester, write_batch
from edge.events.ingester_process import IngesterProcess
from edge.events.prepare import EventPreparer
from edge.events.spool import SEGMENT_GLOB, SpoolWriter
from edge.model.events import Event, new_event_id
from edge.tokens.codec import TokenCodec
from tests.conftest import SECRET, free_port, start_server_process
from tests.fixtures_engagement import CHROME, HOME_IP
from tests.stores import every_event, in_store, store_at, stored_events

CODEC = TokenCodec([SECRET])


def count(db_path: Path) -> int:
    """Events stored in the database at ``db_path``."""
    return len(stored_events(db_path))


def stored_urls(db_path: Path) -> list[str | None]:
    """The ``url`` of every stored event, in time order."""
    return [e.url for e in stored_events(db_path)]


def make_event(i: int) -> Event:
    return Event(new_event_id(), "click", 1_700_000_000_000 + i, 1, "track.test", url=f"u{i}")


async def ingest_spool(data_dir: Path) -> int:
    """What the next process to take the ingester lock does: ingest the whole spool."""
    settings = Settings(data_dir=data_dir)
    async with store_for(settings) as store:
        ingester = EventIngester.from_settings(settings, store)
        try:
            return await ingester.catch_up()
        finally:
            await ingester.stop()


def spool_files(data_dir: Path) -> list[Path]:
    return sorted((data_dir / "spool").glob(SEGMENT_GLOB))


def test_spool_left_by_a_dead_process_is_ingested_at_next_start(tmp_path):
    dead = SpoolWriter(tmp_path / "spool")
    dead.write([make_event(i).row() for i in range(30)])
    dead.close()  # the process is gone: its lock is released, its segment stays
    assert asyncio.run(ingest_spool(tmp_path)) == 30
    assert count(tmp_path / "edge.sqlite3") == 30
    assert spool_files(tmp_path) == []  # read to its end, sealed: deleted
    offsets = in_store(tmp_path / "edge.sqlite3", lambda db: db.spool.offsets(), write=False)
    assert offsets == {}  # and its offset forgotten


def test_an_ingester_that_died_after_a_commit_repeats_nothing(tmp_path):
    events = [make_event(i) for i in range(30)]
    writer = SpoolWriter(tmp_path / "spool")
    first = writer.write([e.row() for e in events[:10]])
    writer.write([e.row() for e in events[10:]])
    writer.close()

    async def commit_first_line_then_die() -> None:
        async with store_at(tmp_path / "edge.sqlite3") as store:
            batch = await EventPreparer().prepare(store, events[:10])
            await write_batch(store, batch, [(writer.path.name, first)])

    asyncio.run(commit_first_line_then_die())
    assert asyncio.run(ingest_spool(tmp_path)) == 20  # from the committed offset on
    assert stored_urls(tmp_path / "edge.sqlite3") == [f"u{i}" for i in range(30)]


def test_segment_of_a_live_writer_is_ingested_but_kept_until_sealed(tmp_path):
    live = SpoolWriter(tmp_path / "spool")
    live.write([make_event(1).row()])
    assert asyncio.run(ingest_spool(tmp_path)) == 1
    assert spool_files(tmp_path) == [live.path]  # its writer may append more
    live.write([make_event(2).row()])
    live.close()
    assert asyncio.run(ingest_spool(tmp_path)) == 1  # only the new line
    assert spool_files(tmp_path) == []
    assert count(tmp_path / "edge.sqlite3") == 2


def record(tmp_path: Path, rows: list[tuple[object, ...]]) -> bytes:
    """The bytes a writer appends for ``rows``."""
    writer = SpoolWriter(tmp_path / "scratch")
    writer.write(rows)
    assert writer.path is not None
    data = writer.path.read_bytes()
    writer.close()
    return data


def test_torn_last_record_of_a_sealed_segment_is_skipped_and_the_rest_ingested(tmp_path):
    torn = record(tmp_path, [make_event(3).row()])[:-5]
    dead = SpoolWriter(tmp_path / "spool")
    dead.write([make_event(1).row(), make_event(2).row()])
    with open(dead.path, "ab") as segment:
        segment.write(torn)  # an operating-system crash in the middle of a write
    dead.close()
    assert asyncio.run(ingest_spool(tmp_path)) == 2
    assert spool_files(tmp_path) == []


def test_a_damaged_record_of_a_sealed_segment_ends_what_is_read_of_it(tmp_path):
    damaged = bytearray(record(tmp_path, [make_event(3).row()]))
    damaged[-3] ^= 0xFF  # a whole record whose bytes are not those written: the CRC says so
    dead = SpoolWriter(tmp_path / "spool")
    dead.write([make_event(1).row(), make_event(2).row()])
    with open(dead.path, "ab") as segment:
        segment.write(damaged + record(tmp_path, [make_event(4).row()]))
    dead.close()
    assert asyncio.run(ingest_spool(tmp_path)) == 2
    assert stored_urls(tmp_path / "edge.sqlite3") == ["u1", "u2"]
    assert spool_files(tmp_path) == []


def test_an_unfinished_record_of_a_live_segment_waits_for_its_end(tmp_path):
    data = record(tmp_path, [make_event(2).row()])
    live = SpoolWriter(tmp_path / "spool")
    live.write([make_event(1).row()])
    with open(live.path, "ab", buffering=0) as segment:  # the writer still holds its lock
        segment.write(data[:4])  # caught halfway through the head of a record
        assert asyncio.run(ingest_spool(tmp_path)) == 1  # the whole record before it only
        segment.write(data[4:20])  # and halfway through its payload
        assert asyncio.run(ingest_spool(tmp_path)) == 0
        segment.write(data[20:])
    assert asyncio.run(ingest_spool(tmp_path)) == 1
    assert count(tmp_path / "edge.sqlite3") == 2


def test_a_segment_an_earlier_version_wrote_as_json_lines_is_ingested(tmp_path):
    spool = tmp_path / "spool"
    spool.mkdir()
    old = spool / "events-0000018eea684dcf-123-abcd1234.ndjson"  # sealed: no writer holds it
    lines = [json.dumps([make_event(i).row() for i in pair]) for pair in ((1, 2), (3,))]
    old.write_text("".join(line + "\n" for line in lines))
    assert asyncio.run(ingest_spool(tmp_path)) == 3
    assert stored_urls(tmp_path / "edge.sqlite3") == ["u1", "u2", "u3"]
    assert spool_files(tmp_path) == []


def test_one_ingester_per_data_dir_and_a_standby_takes_over(tmp_path):
    async def run() -> tuple[bool, bool, int]:
        settings = Settings(data_dir=tmp_path)
        store = store_for(settings)
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


def children(pid: int) -> list[int]:
    """Child processes of ``pid``, whichever of its threads started them."""
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(p) for p in (task / "children").read_text().split()]
    return found


def niceness(pid: int) -> int:
    """proc(5): field 19 of /proc/<pid>/stat."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    return int(stat.rpartition(")")[2].split()[16])


def wait_for(predicate, timeout: float = 10.0):
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)
    return value


def test_serve_stores_events_through_a_separate_ingester_it_restarts(tmp_path):
    port = free_port()
    proc = start_server_process(tmp_path / "data", port)
    db = tmp_path / "data" / "edge.sqlite3"
    try:
        (ingester,) = wait_for(lambda: children(proc.pid))
        # Niced (EDGE_INGEST_NICE, 19): under full load the CPU answers requests first.
        assert wait_for(lambda: niceness(ingester) == 19)
        # And SCHED_IDLE (EDGE_INGEST_IDLE): its core counts as free for a woken server.
        assert wait_for(lambda: os.sched_getscheduler(ingester) == os.SCHED_IDLE)
        with httpx.Client(base_url=f"http://127.0.0.1:{port}") as client:
            for i in range(3):
                token = CODEC.sign_click(1, f"https://example.com/{i}")
                assert client.get(f"/e/{token}", headers={"host": "track.test"}).status_code == 302
            wait_for(lambda: count(db) == 3)
            health = client.get("/healthz", headers={"host": "admin.test"}).json()
            # The worker only spooled them; the ingester process stored them.
            assert (health["events_spooled"], health["events_ingested"]) == (3, 0)
            os.kill(ingester, signal.SIGKILL)
            (restarted,) = wait_for(lambda: [p for p in children(proc.pid) if p != ingester])
            token = CODEC.sign_click(1, "https://example.com/after")
            assert client.get(f"/e/{token}", headers={"host": "track.test"}).status_code == 302
            wait_for(lambda: count(db) == 4)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(20)
    assert not os.path.exists(f"/proc/{restarted}")  # stopped with the server


def test_events_an_earlier_version_journalled_are_stored_once_and_the_journal_removed(tmp_path):
    journal = tmp_path / "journal"
    journal.mkdir()
    old = journal / "events-123-abcd.ndjson"  # one JSON event per line, as version 6 wrote
    lines = [
        json.dumps(
            {f.name: getattr(make_event(i), f.name) for f in dataclasses.fields(Event)}
            | {"time": "2023-11-14T22:13:20.000Z"}
        )
        for i in range(3)
    ]
    old.write_text("\n".join(lines) + '\n{"id": "torn')
    assert asyncio.run(ingest_spool(tmp_path)) == 3
    assert count(tmp_path / "edge.sqlite3") == 3
    assert list(journal.iterdir()) == []


def test_a_round_under_way_finishes_before_the_ingester_stops(tmp_path):
    class SlowStore(SQLiteStore):
        """The ingester's transactions hang, once begun, until ``release`` is set; counts
        those that end in a rollback."""

        entered: asyncio.Event
        release: asyncio.Event
        rolled_back = 0

        @contextlib.asynccontextmanager
        async def transaction(self, role: Role = Role.ADMIN) -> AsyncIterator[Repositories]:
            try:
                async with super().transaction(role) as tx:
                    if role is Role.INGESTER:
                        self.entered.set()
                        await self.release.wait()
                    yield tx
            except BaseException:
                self.rolled_back += 1
                raise

    async def run() -> int:
        settings = Settings(data_dir=tmp_path)
        store = SlowStore(settings.database_path)
        store.entered, store.release = asyncio.Event(), asyncio.Event()
        await store.open()
        writer = SpoolWriter(settings.spool_dir)
        writer.write([make_event(i).row() for i in range(5)])
        writer.close()
        ingester = EventIngester.from_settings(settings, store)
        await ingester.start()
        await store.entered.wait()  # a round is writing, inside its transaction
        stopping = asyncio.ensure_future(ingester.stop())
        await asyncio.sleep(0.05)
        assert not stopping.done()  # waits for the round rather than cancel it
        store.release.set()
        await stopping
        assert store.rolled_back == 0  # the round under way committed, not cancelled halfway
        assert not ingester.lock.held
        await store.close()
        return ingester.committed

    assert asyncio.run(run()) == 5
    assert count(tmp_path / "edge.sqlite3") == 5


def test_a_worker_with_a_long_backlog_does_not_keep_the_others_waiting(tmp_path):
    busy, quiet = SpoolWriter(tmp_path / "spool"), SpoolWriter(tmp_path / "spool")
    for start in range(0, 20_000, 1000):
        busy.write([make_event(i).row() for i in range(start, start + 1000)])
    quiet.write([make_event(30_000 + i).row() for i in range(3)])

    async def one_round() -> list[str | None]:
        settings = Settings(data_dir=tmp_path, event_batch_size=5000)
        async with store_for(settings) as store:
            ingester = EventIngester.from_settings(settings, store)
            assert ingester.lock.acquire()
            await ingester.run_once()
            ingester.lock.release()
            async with store.reading() as db:
                return [e.url for e in await every_event(db)]

    stored = asyncio.run(one_round())
    assert {"u30000", "u30001", "u30002"} <= set(stored)  # the quiet worker's, in round one
    assert len(stored) < 20_000  # and the busy one's backlog is spread over rounds


def test_a_catch_up_starts_with_an_eighth_of_a_batch_and_doubles_each_round(tmp_path):
    writer = SpoolWriter(tmp_path / "spool")
    for i in range(20_000):  # a record per event, all of one size
        writer.write([make_event(100_000 + i).row()])
    writer.close()
    (segment,) = spool_files(tmp_path)
    written: list[int] = []

    class Recording(EventIngester):
        async def _write(self, batch, progress) -> None:
            written.append(len(batch.rows))
            await super()._write(batch, progress)

    async def catch_up() -> int:
        settings = Settings(data_dir=tmp_path, event_batch_size=8000)
        async with store_for(settings) as store:
            ingester = Recording.from_settings(settings, store)
            ingester.bytes_per_event = segment.stat().st_size // 20_000
            try:
                return await ingester.catch_up()
            finally:
                await ingester.stop()

    assert asyncio.run(catch_up()) == 20_000
    # The database starts writing after 1,000 events are classified, not 8,000.
    assert written == [1000, 2000, 4000, 8000, 5000]


class FailingOnce(EventIngester):
    """An ingester whose next commit fails (the database went away) after ``delay`` seconds,
    once; ``arriving`` reaches the spool just before its second look at it (the read-ahead
    of its first round)."""

    fail = False
    delay = 0.0
    arriving: tuple[SpoolWriter, Event] | None = None
    looks = 0

    async def _write(self, batch, progress):
        if self.fail:
            self.fail = False
            await asyncio.sleep(self.delay)
            raise StoreUnavailable("database down")
        await super()._write(batch, progress)

    async def _prepare(self, offsets, size):
        self.looks += 1
        if self.arriving is not None and self.looks == 2:
            writer, event = self.arriving
            writer.write([event.row()])
        return await super()._prepare(offsets, size)


@contextlib.asynccontextmanager
async def failing_ingester(data_dir: Path) -> AsyncIterator[FailingOnce]:
    """A :class:`FailingOnce` ingester of ``data_dir``, holding its lock."""
    settings = Settings(data_dir=data_dir)
    async with store_for(settings) as store:
        ingester = FailingOnce.from_settings(settings, store)
        assert ingester.lock.acquire()
        try:
            yield ingester
        finally:
            ingester.lock.release()


def verdicts(data_dir: Path) -> dict[str, tuple[str, str]]:
    return {e.id: (e.verdict, e.rule) for e in stored_events(data_dir / "edge.sqlite3")}


def burst_click(ts_ms: int, link: str, message: str = "m1") -> Event:
    """A click of one person's message and address: two links within a second are a burst."""
    return Event(
        new_event_id(ts_ms * 1_000_000), "click", ts_ms, 1, "track.test", message, "r1", link,
        f"https://shop.example/{link}", HOME_IP, CHROME,
    )  # fmt: skip


@pytest.mark.parametrize("fails", [False, True], ids=["committed", "commit-failed"])
def test_a_relabel_of_an_event_stored_earlier_survives_a_failed_commit(tmp_path, fails):
    """A is stored; B, a burst with it, relabels it. Should B's commit fail, B's round is
    classified again after it, when the window has seen B already: A's relabel goes with the
    next round."""
    a, b = burst_click(1_700_000_000_000, "l1"), burst_click(1_700_000_000_500, "l2")
    writer = SpoolWriter(tmp_path / "spool")

    async def run() -> None:
        async with failing_ingester(tmp_path) as ingester:
            writer.write([a.row()])
            assert await ingester.run_once() == 1
            writer.write([b.row()])
            if fails:
                ingester.fail = True
                with pytest.raises(StoreUnavailable):
                    await ingester.run_once()
            assert await ingester.run_once() == 1

    asyncio.run(run())
    stored = verdicts(tmp_path)
    assert stored == {a.id: ("scanner", "link_burst"), b.id: ("scanner", "link_burst")}


def test_a_relabel_found_by_the_read_ahead_of_a_failed_commit_is_written_with_the_next(
    tmp_path,
):
    """A is stored. The round of another message's click fails to commit while its
    read-ahead classifies B, which relabels A: both rounds are read again, and A is stored
    relabelled."""
    a, b = burst_click(1_700_000_000_000, "l1"), burst_click(1_700_000_000_500, "l2")
    other = burst_click(1_700_000_000_200, "l1", message="m2")
    writer = SpoolWriter(tmp_path / "spool")

    async def run() -> None:
        async with failing_ingester(tmp_path) as ingester:
            writer.write([a.row()])
            assert await ingester.run_once() == 1
            writer.write([other.row()])
            ingester.looks, ingester.arriving = 0, (writer, b)
            ingester.fail, ingester.delay = True, 0.05
            with pytest.raises(StoreUnavailable):
                await ingester.run_once()
            assert await ingester.run_once() == 2

    asyncio.run(run())
    stored = verdicts(tmp_path)
    assert stored == {
        a.id: ("scanner", "link_burst"),
        b.id: ("scanner", "link_burst"),
        other.id: ("human", "default"),
    }


def test_an_orphaned_ingester_stores_the_spool_and_exits(tmp_path):
    dead = SpoolWriter(tmp_path / "spool")
    dead.write([make_event(i).row() for i in range(3)])
    dead.close()
    env = {**os.environ, "EDGE_DATA_DIR": str(tmp_path), "EDGE_SECRET_KEYS": SECRET}
    # Its parent, as far as it knows, is a process that is not its parent: gone.
    env["EDGE_INGESTER_PARENT"] = "1"
    proc = subprocess.run(
        [sys.executable, "-m", "admin.cli", "ingest"], env=env, timeout=30, capture_output=True
    )
    assert proc.returncode == 0, proc.stderr
    assert count(tmp_path / "edge.sqlite3") == 3


def test_an_ingester_that_exits_cleanly_is_not_restarted_and_stop_stores_the_rest(tmp_path):
    marker = tmp_path / "runs"
    script = f"import sys; open({str(marker)!r}, 'a').write(' '.join(sys.argv[1:]) + ';')"
    supervisor = IngesterProcess([sys.executable, "-c", script])
    supervisor.restart_delay = 0.01
    supervisor.start()
    wait_for(lambda: marker.exists() and marker.read_text() == ";")
    time.sleep(0.2)  # would have been restarted by now
    assert marker.read_text() == ";"
    supervisor.stop()  # the child is gone: one more runs, to store what is left
    assert marker.read_text() == ";--once;"


def test_a_second_node_with_the_same_name_waits_until_the_name_is_free(pg_url, tmp_path, caplog):
    """Two machines given one ``EDGE_NODE_ID``: the second's ingester stores nothing (its
    events wait in its spool) and says why, until the first has let go of the name."""

    async def run() -> tuple[int, int, int, int]:
        first_settings, second_settings = (
            Settings(data_dir=tmp_path / name, database_url=pg_url, node_id="a")
            for name in ("one", "two")
        )
        writer = SpoolWriter(second_settings.spool_dir)
        writer.write([make_event(i).row() for i in range(5)])
        writer.close()
        async with store_for(second_settings) as two:
            second = EventIngester.from_settings(second_settings, two)
            async with store_for(first_settings) as one:
                first = EventIngester.from_settings(first_settings, one)
                running = await first.catch_up()  # an empty spool, and the name claimed
                refused = await second.catch_up()
                await first.stop()
            # The first node stopped: its store closed, the name is free.
            taken_over = await second.catch_up()
            await second.stop()
            async with two.reading() as db:
                stored = len(await every_event(db))
        return running, refused, taken_over, stored

    assert asyncio.run(run()) == (0, 0, 5, 5)
    assert [r.getMessage() for r in caplog.records if r.levelname == "ERROR"] == [
        "another running node has this node's name (EDGE_NODE_ID): its events wait in the "
        "spool until the name is free; give every node a name of its own"
    ]
