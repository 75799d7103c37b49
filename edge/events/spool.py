"""The event spool: append-only files that carry events from the serving processes to the
ingester.

A serving process never writes events to the database. Its :class:`~edge.events.EventRecorder`
appends them here, a few milliseconds' worth at a time, and one ingester
(:mod:`edge.ingester`) moves them into the store, classified, in batches. The database can be
locked, slow or gone for a while: redirects do not notice, and the events wait on disk.

Layout. Each writer appends to a *segment* of its own,
``spool/events-<created, hex ns>-<pid>-<random>.spool``, and holds an exclusive ``flock`` on
it while it may still append. A segment whose lock can be taken is *sealed*: its writer moved
on to a new segment or is gone, and nothing more will ever be appended. Names sort in
creation order.

Format. One record per flush: an 8-byte head (the payload's length and CRC-32, little-endian
unsigned) and the payload, the list of event rows (each in :meth:`Event.row` order) as
:mod:`marshal` writes it. A writer appends a whole record with one ``write`` to an
``O_APPEND`` descriptor, so a process killed at any point leaves whole records; only an
operating-system crash can tear the last record of a segment (the data in it was never on
disk). A reader stops before a record it has not got whole, and takes a record whose CRC does
not match for torn: it waits for more in a segment still written to, and skips the rest of a
sealed one.

Why marshal: the serving process encodes a record every event-loop turn and the ingester
decodes every event, and marshal does both in C at a fifth (writing) and a third (reading) of
JSON's cost, for any ``str``, a lone surrogate included. Its format is Python's own, kept
readable by later versions (version 4 since Python 3.4), so a spool left by one Python is
read by the next; it is not made for damaged input, hence the CRC before every ``loads``.
Segments of earlier versions of this package (``.ndjson``, one JSON array of rows per line)
are still read.

Durability. Records are written to the page cache without ``fsync``: they survive the crash
of any process, as SQLite's ``synchronous=NORMAL`` commits do, and an operating-system crash
can lose the last seconds, as it can there.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import marshal
import os
import secrets
import struct
import time
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import starmap
from pathlib import Path

from edge.model.events import Event

log = logging.getLogger("edge.spool")

#: Segments of every format; a writer's hidden ``.events-*.new`` does not match.
SEGMENT_GLOB = "events-*"
SUFFIX = ".spool"
#: One JSON array of rows per line: what versions before the marshal records wrote.
JSON_LINES_SUFFIX = ".ndjson"

#: A record's head: the payload's length and CRC-32.
_HEAD = struct.Struct("<II")


class SpoolWriter:
    """Appends batches of event rows to this writer's current segment."""

    #: A segment is sealed and a new one begun past this size, so that the ingester can
    #: delete what it has read.
    segment_bytes = 32 * 1024 * 1024

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        self.path: Path | None = None
        self._fd: int | None = None
        self._size = 0

    def write(self, rows: Sequence[Sequence[object]]) -> int:
        """Append ``rows`` as one record; returns the bytes written. Raises ``OSError``.

        A failed or short write leaves the segment as it was (the partial bytes are cut off
        again), so the caller can simply try the same rows later.
        """
        if self._fd is None or self._size >= self.segment_bytes:
            self._rotate()
        assert self._fd is not None
        payload = marshal.dumps(rows if type(rows) is list else list(rows))
        data = _HEAD.pack(len(payload), zlib.crc32(payload)) + payload
        try:
            written = os.write(self._fd, data)
            if written != len(data):  # only a full disk does this to a regular file
                raise OSError(28, "short write to the event spool")
        except OSError:
            # Cut what may have landed, so the next record starts where this one did.
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, self._size)
            raise
        self._size += written
        return written

    def _rotate(self) -> None:
        self.close()
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        name = f"events-{time.time_ns():016x}-{os.getpid()}-{secrets.token_hex(4)}{SUFFIX}"
        # Locked under a name the readers ignore, then renamed: a segment never appears
        # unlocked while its writer may still append to it.
        hidden = self.directory / f".{name}.new"
        fd = os.open(hidden, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX)
        os.rename(hidden, self.directory / name)
        self._fd, self.path, self._size = fd, self.directory / name, 0

    def close(self) -> None:
        """Seal the current segment (an empty one is removed)."""
        if self._fd is None:
            return
        fd, path, self._fd = self._fd, self.path, None
        if self._size == 0 and path is not None:
            path.unlink(missing_ok=True)
        os.close(fd)  # releases the lock: the segment is sealed


@dataclass(frozen=True, slots=True)
class Segment:
    """A spool file as the reader found it."""

    path: Path
    size: int
    #: No writer holds it: nothing will be appended.
    sealed: bool

    @property
    def name(self) -> str:
        return self.path.name


@dataclass(slots=True)
class Chunk:
    """Events read from one segment, and the offset just past the last record read."""

    segment: Segment
    events: list[Event]
    end: int


class SpoolReader:
    """Lists segments and reads whole records from them."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)

    def segments(self) -> list[Segment]:
        """Every segment, oldest first."""
        if not self.directory.is_dir():
            return []
        found = []
        for path in sorted(self.directory.glob(SEGMENT_GLOB)):
            try:
                fd = os.open(path, os.O_RDONLY)
            except FileNotFoundError:
                continue  # read to the end and removed meanwhile
            try:
                try:
                    fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
                    sealed = True
                except BlockingIOError:
                    sealed = False
                # Sized after the lock test: a sealed segment's size is final.
                found.append(Segment(path, os.fstat(fd).st_size, sealed))
            finally:
                os.close(fd)  # drops the shared lock too
        return found

    def read(self, segment: Segment, offset: int, max_bytes: int) -> Chunk:
        """Whole records from ``offset``, about ``max_bytes`` of them (at least one)."""
        try:
            handle = open(segment.path, "rb")  # noqa: SIM115 - closed below
        except FileNotFoundError:
            return Chunk(segment, [], offset)
        with handle:
            handle.seek(offset)
            data = handle.read(max(max_bytes, 1))
            if segment.path.suffix == JSON_LINES_SUFFIX:
                while data and b"\n" not in data and len(data) < segment.size - offset:
                    more = handle.read(max_bytes)  # one line longer than max_bytes
                    if not more:
                        break
                    data += more
            else:  # at least one record, however long
                if len(data) < _HEAD.size:
                    data += handle.read(_HEAD.size - len(data))
                if len(data) >= _HEAD.size:
                    whole = _HEAD.size + _HEAD.unpack_from(data)[0]
                    if len(data) < whole:
                        data += handle.read(whole - len(data))
        # Read to the end of a sealed segment, an unfinished last record will never be
        # finished.
        at_end = segment.sealed and offset + len(data) >= segment.size
        if segment.path.suffix == JSON_LINES_SUFFIX:
            return self._json_lines(segment, data, offset, at_end)
        events: list[Event] = []
        pos = 0
        while len(data) - pos >= _HEAD.size:
            size, crc = _HEAD.unpack_from(data, pos)
            start, stop = pos + _HEAD.size, pos + _HEAD.size + size
            if stop > len(data):
                break  # not read whole (or still being written)
            payload = memoryview(data)[start:stop]
            try:
                if zlib.crc32(payload) != crc:
                    raise ValueError("CRC mismatch")
                events.extend(starmap(Event, marshal.loads(payload)))
            except (ValueError, TypeError, EOFError):
                if not segment.sealed:
                    break  # read again next time, as a record still being written would be
                # Only an operating-system crash tears a record, and after a torn record
                # the heads cannot be trusted: what follows never reached the disk whole.
                log.warning(
                    "skipping the rest of %s from %d: a torn record", segment.name, offset + pos
                )
                return Chunk(segment, events, segment.size)
            pos = stop
        if at_end and pos < len(data):
            log.warning("skipping a torn spool record in %s at %d", segment.name, offset + pos)
            pos = len(data)
        return Chunk(segment, events, offset + pos)

    @staticmethod
    def _json_lines(segment: Segment, data: bytes, offset: int, at_end: bool) -> Chunk:
        """The rows of an earlier version's segment: one JSON array per line."""
        events: list[Event] = []
        end = offset
        stop = len(data) if at_end else data.rfind(b"\n") + 1
        for line in data[:stop].splitlines(keepends=True):
            try:
                rows = json.loads(line)
                events.extend(starmap(Event, rows))
            except (ValueError, TypeError, IndexError):
                if not segment.sealed:
                    break  # caught mid-write, perhaps: read it again next time
                # A sealed segment only has a torn line after an OS crash; what it held never
                # reached the disk whole.
                log.warning("skipping an unreadable spool line in %s at %d", segment.name, end)
            end += len(line)
        return Chunk(segment, events, end)

    def discard(self, segment: Segment) -> None:
        """Remove a sealed segment read to its end."""
        segment.path.unlink(missing_ok=True)

    def backlog_bytes(self, offsets: dict[str, int]) -> int:
        """Bytes written to the spool and not yet read past (``offsets`` from the store)."""
        return sum(s.size - offsets.get(s.name, 0) for s in self.segments())

    def oldest_unread(self, offsets: dict[str, int]) -> float | None:
        """When the oldest segment with bytes not yet read past was created (Unix seconds),
        an upper bound of how long its oldest event has waited; ``None`` when all is read."""
        for segment in self.segments():  # oldest first
            if segment.size > offsets.get(segment.name, 0):
                return int(segment.name.split("-")[1], 16) / 1e9
        return None
