"""Events and the write-behind recorder that commits them.

The request handler calls :meth:`EventRecorder.record` (an append to an in-memory queue) and
answers at once; one writer task per process commits the queue in batches, one transaction
each. When the database cannot take a batch (locked, unavailable) the batch goes to the
append-only :class:`~edge.journal.Journal` instead, and the journal is replayed as soon as a
write succeeds again, or at the next start. Every event carries an id made here, and the store
skips ids it already has, so a replay never records an event twice.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import itertools
import logging
import os
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields
from datetime import UTC, datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from edge.journal import Journal
    from edge.store import Store

log = logging.getLogger("edge.events")

EVENT_TYPES = ("click", "open", "initial_open")


class _EventIds:
    """Time-ordered, globally unique event ids: microseconds, a per-process random prefix and a
    per-process counter, in hex (38 characters).

    Time order keeps the primary-key index append-mostly, which keeps inserts fast. The prefix
    (64 random bits drawn once per process, and again in a forked child) keeps processes apart
    without a random draw per event: ``os.urandom`` is a system call, costly on the hot path.
    """

    def __init__(self) -> None:
        self.reset()
        os.register_at_fork(after_in_child=self.reset)

    def reset(self) -> None:
        self.prefix = os.urandom(8).hex()
        self.counter = itertools.count()

    def __call__(self, now_ns: int | None = None) -> str:
        now_ns = time.time_ns() if now_ns is None else now_ns
        return f"{now_ns // 1000:014x}{self.prefix}{next(self.counter) & 0xFFFFFFFF:08x}"


new_event_id = _EventIds()


@dataclass(slots=True)
class Event:
    """One served click or open, as recorded."""

    id: str
    type: str
    ts_ms: int
    account_id: int
    domain: str
    message: str | None = None
    recipient: str | None = None
    link: str | None = None
    url: str | None = None
    client_ip: str | None = None
    user_agent: str | None = None
    method: str = "GET"
    #: A request made ahead of the person (HEAD, link previews): kept, labelled.
    prefetch: bool = False

    def row(self) -> tuple:
        return (
            self.id,
            self.type,
            self.ts_ms,
            self.account_id,
            self.domain,
            self.message,
            self.recipient,
            self.link,
            self.url,
            self.client_ip,
            self.user_agent,
            self.method,
            int(self.prefetch),
        )

    @classmethod
    def from_row(cls, row: Sequence) -> Event:
        values = list(row)
        values[12] = bool(values[12])
        return cls(*values)

    def to_dict(self) -> dict:
        """The JSON form (journal lines, ``tracking-edge events``): adds an ISO time."""
        data = asdict(self)
        data["time"] = (
            datetime.fromtimestamp(self.ts_ms / 1000, tz=UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z")
        )
        return data

    @classmethod
    def from_dict(cls, data: dict) -> Event:
        return cls(**{f.name: data[f.name] for f in fields(cls) if f.name in data})


class _TryLater(Exception):
    """A batch went back to the queue; the writer starts its next round."""


class EventRecorder:
    """Queues events in memory and commits them from one background task.

    ``record`` never blocks and never raises: a redirect must not wait on the database.
    """

    #: Seconds between attempts to reach the database again while spilling to the journal.
    retry_interval = 0.25
    #: Seconds the writer lets events gather before a commit when only a few are waiting
    #: (fewer than ``coalesce_below``): a trickle of events then makes a few transactions
    #: rather than one each, every one rewriting the same pages into the WAL. Under load
    #: the writer never sleeps: events gather while it writes, so batches grow with the
    #: load and the per-batch cost is spread over more events.
    commit_interval = 0.02
    coalesce_below = 256

    def __init__(self, store: Store, journal: Journal, *, batch_size: int = 5000) -> None:
        self.store = store
        self.journal = journal
        self.batch_size = batch_size
        self._pending: collections.deque[Event] = collections.deque()
        self._wakeup = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._closing = False
        self._spilling = False
        self._task: asyncio.Task | None = None
        #: Counters for tests and benchmarks.
        self.committed = 0
        self.spilled = 0

    @property
    def spilling(self) -> bool:
        """True while the database refuses writes and events go to the journal."""
        return self._spilling

    def record(self, event: Event) -> None:
        self._pending.append(event)
        # Invariant: events pending means not idle. drain() relies on it: waiting on a set
        # Event never yields, so a stale ``_idle`` would spin the loop.
        if self._idle.is_set():
            self._idle.clear()
        if not self._wakeup.is_set():
            self._wakeup.set()

    async def start(self) -> None:
        """Replay what earlier processes left in the journal, then start the writer."""
        await self._recover()
        self._task = asyncio.create_task(self._run(), name="event-writer")

    async def drain(self) -> None:
        """Wait until every event recorded so far is committed or journalled."""
        while not self._idle.is_set():
            self._wakeup.set()
            await self._idle.wait()

    async def stop(self) -> None:
        """Flush the queue (SIGTERM/SIGINT end up here), then stop the writer."""
        self._closing = True
        self._wakeup.set()
        if self._task is not None:
            await self._task
            self._task = None
        await asyncio.to_thread(self.journal.close)

    async def _run(self) -> None:
        while True:
            if self._spilling:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wakeup.wait(), self.retry_interval)
                await self._recover()
            else:
                await self._wakeup.wait()
                if len(self._pending) < self.coalesce_below and not self._closing:
                    await asyncio.sleep(self.commit_interval)
            self._wakeup.clear()
            try:
                while self._pending:
                    n = min(len(self._pending), self.batch_size)
                    batch = [self._pending.popleft() for _ in range(n)]
                    await self._write(batch)
            except _TryLater:
                continue
            if not self._pending:
                self._idle.set()
            if self._closing and not self._pending:
                if self._spilling:
                    await self._recover()  # one last try, so a brief stall leaves no journal
                return

    async def _write(self, batch: list[Event]) -> None:
        if not self._spilling:
            try:
                await self.store.insert_events(batch)
                self.committed += len(batch)
                return
            except Exception as exc:
                log.warning("database unavailable (%s); journalling events", exc)
                self._spilling = True
        # Once spilling, every batch goes to the journal until it has been replayed, which
        # keeps recovery to one rule: the journal holds everything not yet committed.
        try:
            await asyncio.to_thread(self.journal.append, batch)
        except OSError as exc:
            # Neither the database nor the disk takes them (disk full, say): keep them
            # queued, in order, and try again after a pause, rather than let the writer die
            # and lose everything queued behind them.
            log.error("journal unavailable (%s); %d events kept in memory", exc, len(batch))
            self._pending.extendleft(reversed(batch))
            await asyncio.sleep(self.retry_interval)
            raise _TryLater from exc
        self.spilled += len(batch)

    async def _recover(self) -> None:
        """Replay journalled events (ours and orphans of dead processes) into the store."""
        try:
            for path in await asyncio.to_thread(self.journal.replayable):
                for batch in self.journal.read_batches(path, self.batch_size):
                    await self.store.insert_events(batch)
                    self.committed += len(batch)
                await asyncio.to_thread(self.journal.discard, path)
        except Exception as exc:
            if not self._spilling:
                log.warning("journal replay postponed: %s", exc)
            self._spilling = self._spilling or self.journal.has_own_entries()
            return
        if self._spilling:
            log.info("database reachable again; journal replayed")
        self._spilling = False
