"""What a node of a cluster serves from, kept on its own disk too: it starts without the database.

A node answers clicks from memory: the signing keys, the domain table and the certificates,
loaded from the shared database at start and kept fresh by polling it. Each is also saved
under ``<data dir>/snapshot/`` whenever it is loaded, and read back when the database cannot
be reached at start. A node restarted while the database is down (a deploy, a crash, a
reboot) thus still answers every link already sent, from the copy it last saw; its events
wait in the spool, and the copies are loaded again as soon as the database answers.

The files hold secrets (the signing keys, the certificates' private keys), as the data
directory of a single machine already does: the directory is 0700, the files 0600. Only a
node on a shared database keeps them; an embedded database is on the node's own disk already.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

from edge.config import Settings

log = logging.getLogger("edge.snapshot")


class Snapshot:
    """One saved copy: a JSON file, written whole (to a temporary name, then renamed) or
    not at all, so that a crash mid-write leaves the copy before it, and several worker
    processes saving at once leave one whole copy."""

    def __init__(self, directory: Path, name: str) -> None:
        self.directory = Path(directory)
        self.path = self.directory / f"{name}.json"
        #: The bytes last written or read: an unchanged copy is not written again.
        self._last: bytes | None = None

    def save(self, value: object) -> None:
        """Keep ``value`` (JSON types only). A disk that refuses it is logged, not raised:
        the copy in memory is what serves; this one only matters at the next start."""
        data = json.dumps(value, separators=(",", ":")).encode()
        if data == self._last:
            return
        # A name of this writer's own: every worker process of a node saves its copies.
        partial = self.path.with_name(f".{self.path.name}.{os.getpid()}.new")
        try:
            self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            try:
                os.write(fd, data)
                os.fsync(fd)  # renamed only once it is on disk
            finally:
                os.close(fd)
            os.replace(partial, self.path)
        except OSError as exc:
            log.error("could not save %s: %s", self.path, exc)
            return
        self._last = data

    def load(self) -> Any | None:
        """The copy saved last; ``None`` if there is none or it cannot be read (logged)."""
        try:
            data = self.path.read_bytes()
            value = json.loads(data)
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            log.error("could not read %s: %s", self.path, exc)
            return None
        self._last = data
        return value

    @property
    def saved_at(self) -> float | None:
        """When the copy was saved (Unix seconds); ``None`` if there is none."""
        try:
            return self.path.stat().st_mtime
        except OSError:
            return None


def snapshot(settings: Settings, name: str) -> Snapshot | None:
    """The copy ``name`` of this node (``None`` on the embedded database, which keeps none)."""
    return Snapshot(settings.snapshot_dir, name) if settings.snapshot_dir is not None else None
