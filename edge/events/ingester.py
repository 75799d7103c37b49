"""The ingester: moves events from the spool (:mod:`edge.events.spool`) into the store.

One ingester runs per data directory, whoever holds ``<data_dir>/ingester.lock``: under
``tracking-edge serve`` a process of its own (:mod:`edge.events.ingester_process`), niced so that
answering requests comes first; otherwise (``EDGE_INGESTER=inline``: tests, ``uvicorn --factory``) a
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
import dataclasses
import fcntl
import json
import logging
import operator
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from edge.config import SETTINGS, Settings
from edge.db.store import Role, Store, StoreUnavailable
from edge.events.prepare import Batch, EventPreparer
from edge.events.rollup import Rollup
from edge.events.spool import Chunk, SpoolReader
from edge.model.events import STORED_FIELDS, Event, Relabel

log = logging.getLogger("edge.ingester")

LOCK_NAME = "ingester.lock"
_ts = operator.itemgetter(STORED_FIELDS.index("ts_ms"))


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
    #: About what an event takes in the spool: ``batch_size`` events are read per round.
    bytes_per_event = 160
    #: A round with nothing read ahead (the first, or the first after an idle one) reads
    #: this share of ``batch_size``, and each round read ahead twice the one before, up to
    #: ``batch_size``. Nothing is written while the first round is classified, and
    #: classifying a whole batch first kept the database idle for a tenth of a 100,000-event
    #: catch-up; classifying an event takes about half of what writing it does, so a round
    #: twice the size is ready by the time the one before is written.
    first_round_share = 8

    def __init__(
        self,
        store: Store,
        preparer: EventPreparer,
        reader: SpoolReader,
        lock: IngesterLock,
        *,
        rollup: Rollup | None = None,
        rollup_interval: float = 1.0,
        batch_size: int = SETTINGS["event_batch_size"].default,
        journal_dir: Path | None = None,
    ) -> None:
        self.store = store
        #: Classification and privacy: events to rows (edge/events/prepare.py).
        self.preparer = preparer
        self.reader = reader
        self.lock = lock
        self.rollup = rollup
        self.rollup_interval = rollup_interval
        self.batch_size = batch_size
        #: Where an earlier version journalled events (replayed once, see _replay_journal).
        self.journal_dir = journal_dir
        self._offsets: dict[str, int] | None = None
        #: The next round, read and classified while the last one committed.
        self._ahead: _Round | None = None
        #: Relabels of rounds whose commit failed, written with the next round.
        self._unwritten_relabels: list[Relabel] = []
        self._wakeup = asyncio.Event()
        self._round = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self._refused = False
        #: Whether another process holds this node's name (logged once).
        self._name_taken = False
        self._stopping = False
        #: Segments deleted by the last round (the read-ahead may still list them).
        self._discarded: set[str] = set()
        self._rolled_up_at = 0.0
        #: Events committed since the last roll-up pass (an idle ingester passes once).
        self._unrolled = True
        #: Events this process committed (``/healthz``, tests).
        self.committed = 0

    @classmethod
    def from_settings(cls, settings: Settings, store: Store) -> EventIngester:
        return cls(
            store,
            EventPreparer.from_settings(settings),
            SpoolReader(settings.spool_dir),
            IngesterLock(settings.data_dir / LOCK_NAME),
            rollup=Rollup(store),
            rollup_interval=settings.rollup_interval,
            batch_size=settings.event_batch_size,
            journal_dir=settings.data_dir / "journal",
        )

    def wake(self) -> None:
        """New lines in the spool: start a round now rather than at the next poll."""
        self._wakeup.set()

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="ingester")

    async def stop(self) -> None:
        """Stop the rounds; a holder of the lock first ingests what the spool holds.

        A round under way is let finish, never cancelled: cancelled halfway, it could leave
        a transaction open or a batch classified halfway.
        """
        self._stopping = True
        self.wake()
        try:
            if self._task is not None:
                await self._task
                self._task = None
            if self.lock.held:
                try:
                    await self.catch_up()
                except StoreUnavailable as exc:  # kept for the next ingester
                    log.warning("events left in the spool at shutdown: %s", exc)
        finally:
            self.lock.release()

    async def catch_up(self) -> int:
        """Ingest until the spool holds nothing new; returns the events committed.

        Only the process holding the lock ingests; elsewhere this returns 0.
        """
        before = self.committed
        while await self._may_ingest() and await self.run_once():
            pass
        if self.rollup is not None and self.lock.held:
            await self._roll_up()
        return self.committed - before

    async def run_once(self) -> int:
        """One round: the new lines of every segment, in one transaction.

        While the transaction runs (SQLite works with the GIL released), the next round is
        read, parsed and classified, from the offsets this round is committing: the Python
        work of one round overlaps the database work of the other. If the commit fails, the
        next round is dropped and read again from the committed offsets.
        """
        async with self._round:
            if self._offsets is None:
                await self._replay_journal()
                self._offsets = await self._load_offsets()
            offsets = self._offsets
            this, self._ahead = self._ahead, None
            if this is None:
                this = await self._prepare(offsets, self.batch_size // self.first_round_share)
            else:  # read before the last round deleted what it had read to the end
                this.chunks = [c for c in this.chunks if c.segment.name not in self._discarded]
            self._discarded = set()
            if this.progress:
                batch = this.batch
                assert batch is not None  # prepared whenever lines were read
                batch.relabels[:0] = self._unwritten_relabels
                writing = asyncio.ensure_future(self._write(batch, this.progress))
                try:
                    following = await self._prepare(
                        {**offsets, **dict(this.progress)}, min(2 * this.size, self.batch_size)
                    )
                except Exception:  # read again next round, after this one
                    following = None
                try:
                    await writing
                except Exception:
                    # Both rounds are read and classified again, but the behaviour window
                    # has seen their events: a relabel of an event stored earlier is not
                    # found twice. It goes with the next round instead (relabels repeat
                    # harmlessly: an event already so labelled is left as it is).
                    ahead = following.batch if following is not None else None
                    self._unwritten_relabels = [
                        *batch.relabels, *(ahead.relabels if ahead is not None else ())
                    ]
                    raise
                self._unwritten_relabels = []
                offsets.update(this.progress)
                self.committed += this.events
                if following is not None and following.events:
                    self._ahead = following
            for chunk in this.chunks:
                segment = chunk.segment
                if segment.sealed and offsets.get(segment.name, 0) >= segment.size:
                    self.reader.discard(segment)
                    self._discarded.add(segment.name)
                    await self._forget(segment.name)
                    offsets.pop(segment.name, None)
            return this.events or len(this.progress)

    async def _write(self, batch: Batch, progress: Sequence[tuple[str, int]]) -> None:
        await write_batch(self.store, batch, progress)

    async def _forget(self, segment: str) -> None:
        """Drop the offset of a segment read to its end and deleted (a row left behind is
        forgotten at the next start)."""
        async with self.store.transaction(Role.INGESTER) as tx:
            await tx.spool.forget(segment)

    async def _prepare(self, offsets: dict[str, int], size: int) -> _Round:
        """Read the next lines from ``offsets``, about ``size`` events, and classify them."""
        chunks = await asyncio.to_thread(self._read, offsets, max(size, 1))
        moved = [c for c in chunks if c.end > offsets.get(c.segment.name, 0)]
        events: list[Event] = [e for c in chunks for e in c.events]
        # Time order (ids are time-ordered) across the workers' segments: the behaviour
        # rules look at what came before.
        events.sort(key=_event_id)
        batch = await self.preparer.prepare(self.store, events) if moved else None
        return _Round(
            chunks, [(c.segment.name, c.end) for c in moved], batch, len(events), size
        )

    def _read(self, offsets: dict[str, int], size: int) -> list[Chunk]:
        """The next lines of every segment, about ``size`` events in all, shared evenly: a
        worker with a long backlog must not keep the others' events waiting."""
        segments = self.reader.segments()
        unread = [s for s in segments if s.size > offsets.get(s.name, 0)]
        share = max(size * self.bytes_per_event // max(len(unread), 1), 64 * 1024)
        chunks: list[Chunk] = []
        for segment in segments:
            offset = offsets.get(segment.name, 0)
            if offset >= segment.size:
                chunks.append(Chunk(segment, [], offset))
            else:
                chunks.append(self.reader.read(segment, offset, share))
        return chunks

    async def _load_offsets(self) -> dict[str, int]:
        async with self.store.reading() as db:
            offsets = await db.spool.offsets()
        present = {s.name for s in await asyncio.to_thread(self.reader.segments)}
        for name in [n for n in offsets if n not in present]:  # deleted before forgotten
            await self._forget(name)
            del offsets[name]
        return offsets

    async def _replay_journal(self) -> None:
        """Store what an earlier version left in its journal (``<data dir>/journal``, one
        JSON event per line, written while its database was locked), then delete it.

        Replays are idempotent (event ids are primary keys); a file still locked belongs
        to an earlier version's process that is still running, and waits for the next start.
        """
        if self.journal_dir is None or not self.journal_dir.is_dir():
            return
        for path in sorted(self.journal_dir.glob("events-*.ndjson")):
            events = await asyncio.to_thread(_read_journal, path)
            if events is None:
                continue
            for start in range(0, len(events), self.batch_size):
                part = events[start : start + self.batch_size]
                await self._write(await self.preparer.prepare(self.store, part), ())
            path.unlink(missing_ok=True)
            self.committed += len(events)
            log.info("stored %d events from %s", len(events), path)

    async def _roll_up(self) -> None:
        assert self.rollup is not None
        self._rolled_up_at = time.monotonic()
        self._unrolled = False
        try:
            await self.rollup.catch_up()
        except Exception as exc:  # locked or unavailable: the next pass retries
            log.warning("roll-up pass postponed: %s", exc)

    async def _may_ingest(self) -> bool:
        """Whether this process holds the data directory's lock and the store's claim on
        this node's name (:meth:`~edge.db.store.Store.claim_node`)."""
        if not self.lock.acquire():
            return False
        if await self.store.claim_node():
            if self._name_taken:
                log.info("this node's name is free again: ingesting the spool")
                self._name_taken = False
            return True
        if not self._name_taken:
            log.error(
                "another running node has this node's name (EDGE_NODE_ID): its events wait "
                "in the spool until the name is free; give every node a name of its own"
            )
            self._name_taken = True
        return False

    async def _run(self) -> None:
        while True:
            try:
                if await self._may_ingest():
                    break
            except StoreUnavailable as exc:  # started while the database is down
                if not self._refused:
                    log.warning("events wait in the spool: %s", exc)
                    self._refused = True
            if self._stopping:
                return
            await self._wait(self.standby_interval)
        log.info("ingesting events from %s", self.reader.directory)
        while not self._stopping:
            self._wakeup.clear()
            try:
                # The claim is checked each round: one lost with its connection (the server
                # restarted) may have been taken by a node of the same name meanwhile.
                if not await self._may_ingest():
                    await self._wait(self.standby_interval)
                    continue
                moved = await self.run_once()
            except Exception as exc:  # StoreUnavailable, or a bug: the spool keeps them
                if not self._refused:
                    log.warning("events wait in the spool: %s", exc)
                    self._refused = True
                await self._wait(self.retry_interval)
                continue
            if self._refused:
                log.info("database reachable again; ingesting the spool")
                self._refused = False
            self._unrolled = self._unrolled or moved > 0
            due = time.monotonic() - self._rolled_up_at >= self.rollup_interval
            if self.rollup is not None and self._unrolled and (due or not moved):
                await self._roll_up()
            if not moved:
                await self._wait(self.poll_interval)

    async def _wait(self, seconds: float) -> None:
        """Sleep ``seconds``, or less if woken (new lines, or ``stop``)."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wakeup.wait(), seconds)


async def write_batch(
    store: Store, batch: Batch, progress: Sequence[tuple[str, int]] = ()
) -> None:
    """Store a prepared batch and the spool offsets it was read up to, in one transaction:
    the events (an id already stored is skipped; one of a recipient erased after it was
    served is dropped, :mod:`edge.model.erasure`), the late relabels, the offsets."""
    async with store.transaction(Role.INGESTER) as tx:
        rows: Sequence[Sequence[object]] = batch.rows
        if batch.rows:
            # Read first thing in the transaction: the guard keeps erasures out until it ends.
            erased = await tx.erasures.since(min(map(_ts, batch.rows)))
            if erased:
                rows = erased.keep(batch.rows)
        await tx.event_writer.insert(rows)
        if batch.relabels:
            await tx.rollups.reclassify(batch.relabels)
        await tx.spool.advance(progress)


@dataclass(slots=True)
class _Round:
    """What one round read (its chunks and the offsets reached) and made of it."""

    chunks: list[Chunk]
    progress: list[tuple[str, int]]
    batch: Batch | None
    events: int
    #: The events it was to read at most (about): the next round reads twice as many.
    size: int


def _event_id(event: Event) -> str:
    return event.id


_EVENT_FIELDS = tuple(f.name for f in dataclasses.fields(Event))


def _read_journal(path: Path) -> list[Event] | None:
    """The events of an earlier version's journal file; ``None`` while its writer lives."""
    try:
        handle = open(path, "rb")  # noqa: SIM115 - closed below
    except FileNotFoundError:
        return None
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return None
        events = []
        for line in handle:
            try:
                data = json.loads(line)
                events.append(Event(**{k: data[k] for k in _EVENT_FIELDS if k in data}))
            except (ValueError, TypeError):  # a torn last line: never acknowledged
                log.warning("skipping an unreadable line in %s", path)
        return events
