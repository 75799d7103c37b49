"""Events, and the recorder that hands them from the request handlers to the spool.

The request handler calls :meth:`EventRecorder.record` (an append to an in-memory list) and
makes its response at once. Before the responses of an event-loop turn are written, the
HTTP protocol has the recorder append what the turn gathered to this process's segment of
the event spool (:meth:`EventRecorder.write_pending`, one ``write`` for the whole turn): an
answered click is in the spool before its client can see the answer. The ingester
(:mod:`edge.ingester`), in a process of its own under ``tracking-edge serve``, commits the
spool to the store in batches. A serving process thus never waits on, or even opens a write
transaction in, the database. Every event carries an id made here, and the store skips ids it
already has, so no path can record an event twice.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from edge.model.events import Event

if TYPE_CHECKING:
    from edge.events.spool import SpoolWriter

log = logging.getLogger("edge.events")


class EventRecorder:
    """Gathers events in memory and appends them to the spool in batches.

    ``record`` is a list append: it never blocks, never raises and never touches the
    database. :meth:`write_pending`, called before responses are written, puts everything
    gathered meanwhile into the spool as one record (one ``write`` system call), so the cost of
    a write is spread over the events of a loop turn. A timer armed by ``record`` writes
    whatever no response wrote within ``flush_interval``. The ingester
    (:mod:`edge.ingester`) takes them from there.
    """

    #: Seconds an event waits in memory at most when no response writes it first.
    flush_interval = 0.01
    #: Seconds between attempts while the spool cannot be written (disk full).
    retry_interval = 0.25
    #: Seconds ``stop`` keeps trying a spool that refuses writes.
    stop_timeout = 10.0
    #: Most rows in one spool record.
    rows_per_write = 5000

    def __init__(self, spool: SpoolWriter) -> None:
        self.spool = spool
        self._rows: list[tuple[object, ...]] = []
        self._timer: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._failing = False
        self._closed = False
        #: Called after each successful flush (the in-process ingester's wake-up).
        self.on_flush: Callable[[], None] | None = None
        #: Counters for ``/healthz``, tests and benchmarks.
        self.spooled = 0

    @property
    def pending(self) -> int:
        """Events recorded and not yet written to the spool."""
        return len(self._rows)

    def record(self, event: Event) -> None:
        self.record_row(event.row())

    def record_row(self, row: tuple[object, ...]) -> None:
        """:meth:`record` for an event given as its spool row (:meth:`Event.row`)."""
        self._rows.append(row)
        if self._timer is None and self._loop is not None:
            # Armed at most once per interval: write_pending() leaves it be.
            self._timer = self._loop.call_later(self.flush_interval, self._timer_fired)

    def write_pending(self) -> None:
        """Write what is pending to the spool now: the HTTP protocol calls this before the
        responses of a loop turn leave. While the spool refuses writes it does nothing: the
        retry timer keeps trying, the events wait in memory and the responses still go out."""
        if self._rows and not self._failing:
            self.flush()

    def _timer_fired(self) -> None:
        self._timer = None
        if self._rows:
            self.flush()

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._closed = False

    def flush(self) -> bool:
        """Write what is pending to the spool now; returns False if the disk refused it.

        Refused rows stay pending, in order, and are tried again after ``retry_interval``,
        at most ``rows_per_write`` at a time: a backlog gathered while the disk was full is
        not encoded again whole on every attempt.
        """
        rows = self._rows
        while rows:
            part = rows[: self.rows_per_write]
            try:
                self.spool.write(part)
            except OSError as exc:
                if not self._failing:
                    log.error(
                        "event spool unavailable (%s); %d events kept in memory", exc, len(rows)
                    )
                    self._failing = True
                if self._loop is not None and not self._closed:
                    if self._timer is not None:
                        self._timer.cancel()
                    self._timer = self._loop.call_later(self.retry_interval, self._timer_fired)
                return False
            del rows[: len(part)]
            self.spooled += len(part)
        if self._failing:
            log.warning("event spool writable again")
            self._failing = False
        if self.on_flush is not None:
            self.on_flush()
        return True

    async def drain(self) -> None:
        """Write everything recorded so far to the spool; waits while the disk refuses it."""
        while not self.flush():
            await asyncio.sleep(self.retry_interval)

    async def stop(self) -> None:
        """Flush (SIGTERM/SIGINT end up here) and seal this process's spool segment.

        Gives up only if the disk still refuses the events after ``stop_timeout`` seconds,
        and then says how many were lost.
        """
        deadline = time.monotonic() + self.stop_timeout
        while not self.flush() and time.monotonic() < deadline:
            await asyncio.sleep(self.retry_interval)
        if self._rows:
            log.error("%d events could not be written to the spool", len(self._rows))
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._closed = True
        self.spool.close()
