"""The append-only spill journal for events the database could not take.

Each process appends to a file of its own (``journal/events-<pid>-<random>.ndjson``, one JSON
event per line) and holds an exclusive ``flock`` on it while it lives. A journal file whose
lock can be taken belongs to a process that is gone: any process may replay and delete it.
Replays are idempotent (event ids are primary keys), so a crash halfway through a replay only
means the next replay skips what was already stored.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from edge.events import Event

log = logging.getLogger("edge.journal")


class Journal:
    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        self.path = self.directory / f"events-{os.getpid()}-{secrets.token_hex(4)}.ndjson"
        self._file: IO[str] | None = None

    def append(self, events: list[Event]) -> None:
        """Write ``events`` and fsync: once this returns they survive a crash."""
        if self._file is None:
            self.directory.mkdir(parents=True, exist_ok=True)
            # Lock under a name the orphan scan ignores, then rename: the file never appears
            # unlocked, so no other process can take it for an orphan and delete it.
            hidden = self.directory / f".{self.path.name}.new"
            self._file = open(hidden, "a", encoding="utf-8")  # noqa: SIM115 - held open
            fcntl.flock(self._file, fcntl.LOCK_EX)
            os.rename(hidden, self.path)
        lines = "".join(json.dumps(e.to_dict(), separators=(",", ":")) + "\n" for e in events)
        self._file.write(lines)
        self._file.flush()
        os.fsync(self._file.fileno())

    def has_own_entries(self) -> bool:
        return self._file is not None and self.path.exists() and self.path.stat().st_size > 0

    def replayable(self) -> list[Path]:
        """Our own file, if any, then every orphaned file (lock free), oldest first."""
        found: list[Path] = []
        if self.has_own_entries():
            found.append(self.path)
        if not self.directory.is_dir():
            return found
        for path in sorted(self.directory.glob("events-*.ndjson"), key=_mtime):
            if path == self.path:
                continue
            with open(path, "a") as probe:
                try:
                    fcntl.flock(probe, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    continue  # a live process owns it
                fcntl.flock(probe, fcntl.LOCK_UN)
            found.append(path)
        return found

    def read_batches(self, path: Path, size: int) -> Iterator[list[Event]]:
        batch: list[Event] = []
        try:
            handle = open(path, encoding="utf-8")  # noqa: SIM115
        except FileNotFoundError:
            return  # another process replayed it first
        with handle:
            for number, line in enumerate(handle, 1):
                try:
                    batch.append(Event.from_dict(json.loads(line)))
                except (ValueError, TypeError, KeyError):
                    # Only a torn last line after a crash can be malformed; what it held was
                    # never acknowledged as written.
                    log.warning("skipping unreadable journal line %s:%d", path.name, number)
                    continue
                if len(batch) >= size:
                    yield batch
                    batch = []
        if batch:
            yield batch

    def discard(self, path: Path) -> None:
        """Forget a replayed file."""
        if path == self.path and self._file is not None:
            self._file.truncate(0)
            self._file.seek(0)
            return
        path.unlink(missing_ok=True)

    def close(self) -> None:
        if self._file is not None:
            empty = self.path.stat().st_size == 0
            self._file.close()
            self._file = None
            if empty:
                self.path.unlink(missing_ok=True)


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except FileNotFoundError:
        return 0.0
