"""The SQLite schema, versioned with ``PRAGMA user_version``.

The numbered scripts in ``edge/db/sqlite/migrations`` upgrade an older file in place when a
store opens; each runs in its own transaction together with the version bump.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import sqlite3
from importlib import resources
from pathlib import Path


def migration_scripts() -> list[tuple[int, str, str]]:
    """``(version, name, sql)`` for every script shipped in ``migrations/``, in order."""
    scripts = []
    for entry in resources.files("edge.db.sqlite.migrations").iterdir():
        if entry.name.endswith(".sql"):
            version = int(entry.name.split("_", 1)[0])
            scripts.append((version, entry.name, entry.read_text()))
    scripts.sort()
    return scripts


def migrate(path: Path, *, upto: int | None = None) -> int:
    """Bring the database at ``path`` to the newest schema (or to ``upto``); return the version.

    A failure leaves the previous version intact. A file lock beside the database keeps
    workers that start together from migrating twice.
    """
    path = Path(path)
    # The file holds customers' TLS private keys and API key hashes: owner only. SQLite
    # creates -wal and -shm with the database file's mode; they are set here all the same.
    if not path.parent.exists():
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    # Created here, only when missing: closing any descriptor of a file drops every POSIX
    # lock this process holds on it, SQLite's included (its connections may be open already).
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    with open(path.with_name(path.name + ".migrate-lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        conn = sqlite3.connect(path, isolation_level=None)
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            for suffix in ("", "-wal", "-shm"):
                with contextlib.suppress(FileNotFoundError):
                    os.chmod(path.with_name(path.name + suffix), 0o600)
            current = conn.execute("PRAGMA user_version").fetchone()[0]
            for version, _name, sql in migration_scripts():
                if version <= current or (upto is not None and version > upto):
                    continue
                conn.executescript(f"BEGIN;\n{sql}\nPRAGMA user_version = {version};\nCOMMIT;")
                current = version
            return int(current)
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        finally:
            conn.close()
