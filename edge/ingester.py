"""The ingester: moves events from the spool (:mod:`edge.spool`) into the store.

One ingester runs per data directory, whoever holds ``<data_dir>/ingester.lock``: under
``tracking-edge serve`` a process of its own (:func:`run_process`), niced so that answering
requests comes first; otherwise (``EDGE_INGESTER=inline``: tests, ``uvicorn --factory``) a
background task of the serving process that takes the lock. Either way the serving processes
only append to the spool, and every event goes through one classifier, so the behaviour
rules (a burst of clicks, a click too fast after the open) see the clicks of all workers.

Each round reads the new lines of every segment, commits them as one batch together with
the offsets reached (``spool_progress``), deletes the sealed segments read to their end, and
keeps the roll-ups current. A round that fails (database locked or down) is repeated later
from the committed offsets: the spool is the queue, and nothing in it is lost or stored twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import gc
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from edge.config import Settings
from edge.events import Event
from edge.ingest import EventIngest
from edge.rollup import Rollup
from edge.spool import Chunk, SpoolReader
from edge.store import SQLiteStore, Store, StoreUnavailable

log = logging.getLogger("edge.ingester")

LOCK_NAME = "ingester.lock"


class IngesterLock:
    """``flock`` on ``<data_dir>/ingester.lock``: one ingester per data directory."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> bool:
        """Take the lock if it is free; returns whether this process holds it."""
        if self._fd is not None:
            return True
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self._fd = fd
        return True

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


class EventIngester:
    """Rounds of spool → store, while this process holds the ingester lock."""

    #: Seconds between looks at the spool when nothing arrived (a flush in this process
    #: wakes the ingester at once).
    poll_interval = 0.05
    #: Seconds between attempts to take the lock while another process holds it.
    standby_interval = 1.0
    #: Seconds between attempts while the database refuses writes.
    retry_interval = 0.25
    #: Bytes read from one segment in one round (about 250 bytes an event).
    read_bytes = 2 * 1024 * 1024

    def __init__(
        self,
        store: Store,
        reader: SpoolReader,
        lock: IngesterLock,
        *,
        rollup: Rollup | None = None,
        rollup_interval: float = 1.0,
        batch_size: int = 5000,
    ) -> None:
        self.store = store
        self.reader = reader
        self.lock = lock
        self.rollup = rollup
        self.rollup_interval = rollup_interval
        self.batch_size = batch_size
        self._offsets: dict[str, int] | None = None
        #: The next round's chunks, read while the last round committed.
        self._ahead: list[Chunk] | None = None
        self._wakeup = asyncio.Event()
        self._round = asyncio.Lock()
        self._task: asyncio.Task | None = None
        self._refused = False
        self._rolled_up_at = 0.0
        #: Events committed since the last roll-up pass (an idle ingester passes once).
        self._unrolled = True
        #: Events this process committed (``/healthz``, tests).
        self.committed = 0

    @classmethod
    def from_settings(cls, settings: Settings, store: Store) -> EventIngester:
        return cls(
            store,
            SpoolReader(settings.spool_dir),
            IngesterLock(settings.data_dir / LOCK_NAME),
            rollup=Rollup(settings.database_path),
            rollup_interval=settings.rollup_interval,
            batch_size=settings.event_batch_size,
        )

    def wake(self) -> None:
        """New lines in the spool: start a round now rather than at the next poll."""
        self._wakeup.set()

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="ingester")

    async def stop(self) -> None:
        """Stop the rounds; a holder of the lock first ingests what the spool holds."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self.lock.held:
            try:
                await self.catch_up()
            except StoreUnavailable as exc:  # the spool keeps them for the next ingester
                log.warning("events left in the spool at shutdown: %s", exc)
            self.lock.release()
        if self.rollup is not None:
            await self.rollup.close()

    async def catch_up(self) -> int:
        """Ingest until the spool holds nothing new; returns the events committed.

        Only the process holding the lock ingests; elsewhere this returns 0.
        """
        total = 0
        while self.lock.acquire() and (moved := await self.run_once()):
            total += moved
        if self.rollup is not None and self.lock.held:
            await self._roll_up()
        return total

    async def run_once(self) -> int:
        """One round: the new lines of every segment, in one transaction.

        While the transaction runs (SQLite works with the GIL released), the next round's
        lines are read and parsed, from the offsets this round is committing: a backlog is
        stored about a fifth faster. If the commit fails, that read-ahead is dropped.
        """
        async with self._round:
            if self._offsets is None:
                self._offsets = await self._load_offsets()
            offsets = self._offsets
            chunks, self._ahead = self._ahead, None
            if chunks is None:
                chunks = await asyncio.to_thread(self._read, offsets)
            events: list[Event] = [e for chunk in chunks for e in chunk.events]
            moved = [c for c in chunks if c.end > offsets.get(c.segment.name, 0)]
            if moved:
                # Time order (ids are time-ordered) across the workers' segments: the
                # behaviour rules look at what came before.
                events.sort(key=_event_id)
                progress = [(c.segment.name, c.end) for c in moved]
                ahead = asyncio.ensure_future(
                    asyncio.to_thread(self._read, {**offsets, **dict(progress)})
                )
                try:
                    await self.store.insert_events(events, progress)
                except BaseException:
                    ahead.cancel()
                    raise
                offsets.update(progress)
                self.committed += len(events)
                following = await ahead
                if any(c.events for c in following):  # else a fresh look next round
                    self._ahead = following
            for chunk in chunks:
                segment = chunk.segment
                if segment.sealed and offsets.get(segment.name, 0) >= segment.size:
                    self.reader.discard(segment)
                    await self.store.forget_spool_segment(segment.name)
                    offsets.pop(segment.name, None)
            return len(events) or len(moved)

    def _read(self, offsets: dict[str, int]) -> list[Chunk]:
        chunks: list[Chunk] = []
        count = 0
        for segment in self.reader.segments():
            offset = offsets.get(segment.name, 0)
            if count >= self.batch_size or offset >= segment.size:
                chunks.append(Chunk(segment, [], offset))
                continue
            chunk = self.reader.read(segment, offset, self.read_bytes)
            chunks.append(chunk)
            count += len(chunk.events)
        return chunks

    async def _load_offsets(self) -> dict[str, int]:
        offsets = await self.store.spool_offsets()
        present = {s.name for s in await asyncio.to_thread(self.reader.segments)}
        for name in [n for n in offsets if n not in present]:  # deleted before forgotten
            await self.store.forget_spool_segment(name)
            del offsets[name]
        return offsets

    async def _roll_up(self) -> None:
        assert self.rollup is not None
        self._rolled_up_at = time.monotonic()
        self._unrolled = False
        try:
            await self.rollup.catch_up()
        except Exception as exc:  # locked or unavailable: the next pass retries
            log.warning("roll-up pass postponed: %s", exc)

    async def _run(self) -> None:
        while not self.lock.acquire():
            await asyncio.sleep(self.standby_interval)
        log.info("ingesting events from %s", self.reader.directory)
        while True:
            self._wakeup.clear()
            try:
                moved = await self.run_once()
            except Exception as exc:  # StoreUnavailable, or a bug: the spool keeps them
                if not self._refused:
                    log.warning("events wait in the spool: %s", exc)
                    self._refused = True
                await asyncio.sleep(self.retry_interval)
                continue
            if self._refused:
                log.info("database reachable again; ingesting the spool")
                self._refused = False
            self._unrolled = self._unrolled or moved > 0
            due = time.monotonic() - self._rolled_up_at >= self.rollup_interval
            if self.rollup is not None and self._unrolled and (due or not moved):
                await self._roll_up()
            if not moved:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wakeup.wait(), self.poll_interval)


def _event_id(event: Event) -> str:
    return event.id


def tune_gc() -> None:
    """Garbage collection for a process that mostly ingests.

    Each round allocates tens of thousands of short-lived objects (parsed rows, events,
    verdicts) that reference counting frees; with the default thresholds the collector runs
    every 700 allocations and walks them all the same, a fifth of the ingester's time. Rare
    collections are enough here, and what exists at start is frozen out of their way.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(100_000, 50, 1000)


def run_process(settings: Settings) -> None:
    """The separate ingester (``tracking-edge ingest``): runs until SIGTERM/SIGINT, or until
    the process that started it is gone, then ingests what is left and returns."""
    tune_gc()
    if settings.ingest_nice:
        try:
            os.nice(settings.ingest_nice)
        except OSError as exc:  # a negative niceness needs privileges
            log.warning("could not change niceness by %d: %s", settings.ingest_nice, exc)
    asyncio.run(_serve(settings))


async def _serve(settings: Settings) -> None:
    store = SQLiteStore(
        settings.database_path,
        event_busy_timeout=settings.db_busy_timeout,
        ingest=EventIngest.from_settings(settings),
    )
    await store.open()
    ingester = EventIngester.from_settings(settings, store)
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping.set)
    parent = os.getppid()
    try:
        await ingester.start()  # stands by while another ingester holds the lock
        while not stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), 1.0)
            if os.getppid() != parent:  # orphaned: the server is gone
                break
    finally:
        await ingester.stop()
        await store.close()


class IngesterProcess:
    """Runs the separate ingester as a child process for ``tracking-edge serve``, starting it
    again if it dies (after ``restart_delay``), and stops it after the server.

    A child that is gone for a moment loses nothing: the workers keep appending to the spool,
    and the next ingester starts from the committed offsets.
    """

    #: Seconds before a child that exited unexpectedly is started again.
    restart_delay = 1.0
    #: Seconds ``stop`` waits for the child to ingest what is left; past that it is left to
    #: finish on its own (it exits once done, its parent being gone).
    stop_timeout = 30.0

    def __init__(self, command: Sequence[str] | None = None) -> None:
        self.command = list(command or [sys.executable, "-m", "admin.cli", "ingest"])
        self._proc: subprocess.Popen | None = None
        self._stopping = threading.Event()
        self._watcher: threading.Thread | None = None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def _spawn(self) -> subprocess.Popen:
        # A process group of its own: a Ctrl-C in the terminal reaches the server, which then
        # stops the ingester once the workers have written their last events to the spool.
        # Not a session of its own: with the kernel's autogroup scheduling each session gets
        # an equal share of the CPU, and the ingester's niceness would count for nothing.
        return subprocess.Popen(self.command, process_group=0)

    def start(self) -> None:
        self._proc = self._spawn()
        self._watcher = threading.Thread(target=self._watch, name="ingester-watch", daemon=True)
        self._watcher.start()

    def _watch(self) -> None:
        while not self._stopping.is_set():
            assert self._proc is not None
            code = self._proc.wait()
            if self._stopping.wait(self.restart_delay):
                return
            log.error("the ingester exited with status %s; starting it again", code)
            self._proc = self._spawn()

    def stop(self) -> None:
        self._stopping.set()
        proc = self._proc
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(self.stop_timeout)
        except subprocess.TimeoutExpired:
            log.warning("the ingester is still storing the spool; leaving it to finish")
