"""The data layer: one small interface, and its embedded SQLite implementation.

:class:`Store` is what the edge needs from a database. :class:`SQLiteStore` implements it with
aiosqlite in WAL mode, so readers never wait on the ingester; a shared database for many
edge nodes implements the same protocol.

The schema is versioned with ``PRAGMA user_version``; the numbered scripts in
``edge/migrations`` upgrade an older file in place when the store opens.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import sqlite3
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Protocol

import aiosqlite

from edge.events.prepare import Batch, EventIngest
from edge.model.domains import DomainRecord
from edge.model.events import Event


class StoreUnavailable(Exception):
    """The database cannot take writes right now (locked, read-only, gone).

    The ingester leaves the events in the spool on this and tries again later.
    """


class Store(Protocol):
    async def open(self) -> None: ...
    async def close(self) -> None: ...

    async def prepare_events(self, events: Sequence[Event]) -> Batch:
        """Classify ``events`` and apply the accounts' privacy switches, taking no write lock
        (:mod:`edge.ingest`): the ingester prepares a batch while the last one is written."""

    async def write_events(self, batch: Batch, progress: Sequence[tuple[str, int]] = ()) -> None:
        """Commit a prepared batch in one transaction; an id already stored is skipped.

        ``progress`` holds ``(spool segment, offset)`` pairs stored in the same transaction:
        what the ingester has read. Raises :class:`StoreUnavailable` when the database cannot
        take the write.
        """

    async def insert_events(
        self, events: Sequence[Event], progress: Sequence[tuple[str, int]] = ()
    ) -> None:
        """``prepare_events`` then ``write_events``."""

    async def spool_offsets(self) -> dict[str, int]:
        """How far the ingester has read each spool segment (see ``insert_events``)."""

    async def forget_spool_segment(self, segment: str) -> None:
        """Drop the offset of a segment that was read to its end and deleted."""

    async def domain_table_version(self) -> int:
        """A number that changes whenever any tracking domain changes."""

    async def tracking_domains(self) -> list[DomainRecord]: ...

    async def domain_by_name(self, domain: str) -> DomainRecord | None: ...


def migration_scripts() -> list[tuple[int, str, str]]:
    """``(version, name, sql)`` for every script shipped in ``edge/migrations``, in order."""
    scripts = []
    for entry in resources.files("edge.db.migrations").iterdir():
        if entry.name.endswith(".sql"):
            version = int(entry.name.split("_", 1)[0])
            scripts.append((version, entry.name, entry.read_text()))
    scripts.sort()
    return scripts


def migrate(path: Path, *, upto: int | None = None) -> int:
    """Bring the database at ``path`` to the newest schema (or to ``upto``); return the version.

    Each script runs in its own transaction together with the version bump, so a failure
    leaves the previous version intact. A file lock beside the database keeps workers that
    start together from migrating twice.
    """
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
            return current
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        finally:
            conn.close()


class SQLiteStore:
    """The embedded default: one SQLite file in WAL mode, reached through aiosqlite.

    Two connections: events are written on their own, with a short busy timeout so that a
    locked database is noticed quickly (the ingester then leaves the events in the spool and
    tries again), while everything else uses a connection that waits longer.
    """

    #: Seconds an ordinary query waits for a lock before failing.
    busy_timeout = 5.0

    def __init__(
        self, path: Path, *, event_busy_timeout: float = 1.0, ingest: EventIngest | None = None
    ) -> None:
        self.path = Path(path)
        self.event_busy_timeout = event_busy_timeout
        #: What the ingester does with each batch: classify, privacy, insert (edge/ingest.py).
        self.ingest = ingest or EventIngest()
        self._db: aiosqlite.Connection | None = None
        self._writer: aiosqlite.Connection | None = None

    @property
    def db(self) -> aiosqlite.Connection:
        if self._db is None:
            raise RuntimeError("store is not open")
        return self._db

    async def _connect(self, timeout: float) -> aiosqlite.Connection:
        conn = await aiosqlite.connect(self.path, timeout=timeout, isolation_level=None)
        await conn.execute("PRAGMA foreign_keys=ON")
        # In WAL mode NORMAL keeps every commit across a process crash; only an OS crash
        # can lose the last transactions, for a large gain in commit speed.
        await conn.execute("PRAGMA synchronous=NORMAL")
        return conn

    async def open(self) -> None:
        migrate(self.path)
        self._db = await self._connect(self.busy_timeout)
        self._writer = await self._connect(self.event_busy_timeout)

    async def close(self) -> None:
        for conn in (self._writer, self._db):
            if conn is not None:
                await conn.close()
        self._db = self._writer = None

    async def prepare_events(self, events: Sequence[Event]) -> Batch:
        # On the other connection: the writer's may be busy writing the previous batch.
        if self._db is None:
            raise StoreUnavailable("store is not open")
        try:
            return await self.ingest.prepare(self._db, events)
        except sqlite3.OperationalError as exc:
            raise StoreUnavailable(str(exc)) from exc

    async def insert_events(
        self, events: Sequence[Event], progress: Sequence[tuple[str, int]] = ()
    ) -> None:
        await self.write_events(await self.prepare_events(events), progress)

    async def write_events(self, batch: Batch, progress: Sequence[tuple[str, int]] = ()) -> None:
        if self._writer is None:
            raise StoreUnavailable("store is not open")
        try:
            await self._writer.execute("BEGIN IMMEDIATE")
            try:
                await self.ingest.write(self._writer, batch)
                if progress:
                    await self._writer.executemany(
                        "INSERT INTO spool_progress (segment, offset) VALUES (?, ?) "
                        "ON CONFLICT (segment) DO UPDATE SET offset = excluded.offset",
                        progress,
                    )
                await self._writer.execute("COMMIT")
            except BaseException:
                await _rollback(self._writer)
                raise
        except sqlite3.OperationalError as exc:
            # "database is locked", "disk I/O error", "attempt to write a readonly database"...
            raise StoreUnavailable(str(exc)) from exc

    async def spool_offsets(self) -> dict[str, int]:
        async with self.db.execute("SELECT segment, offset FROM spool_progress") as cur:
            return {row[0]: row[1] for row in await cur.fetchall()}

    async def forget_spool_segment(self, segment: str) -> None:
        try:
            await self.db.execute("DELETE FROM spool_progress WHERE segment = ?", (segment,))
        except sqlite3.OperationalError as exc:  # the row stays; forgotten at the next start
            raise StoreUnavailable(str(exc)) from exc

    async def domain_table_version(self) -> int:
        async with self.db.execute(
            "SELECT value FROM change_counters WHERE name = 'tracking_domains'"
        ) as cur:
            row = await cur.fetchone()
        return row[0] if row else 0

    async def tracking_domains(self) -> list[DomainRecord]:
        async with self.db.execute(
            "SELECT id, domain, account_id, secure, cname_status, compliance_status "
            "FROM tracking_domains"
        ) as cur:
            return [_domain(row) for row in await cur.fetchall()]

    async def domain_by_name(self, domain: str) -> DomainRecord | None:
        async with self.db.execute(
            "SELECT id, domain, account_id, secure, cname_status, compliance_status "
            "FROM tracking_domains WHERE domain = ?",
            (domain,),
        ) as cur:
            row = await cur.fetchone()
        return _domain(row) if row else None


async def _rollback(conn: aiosqlite.Connection) -> None:
    # Fails harmlessly when no transaction is open (BEGIN itself failed).
    with contextlib.suppress(sqlite3.OperationalError):
        await conn.execute("ROLLBACK")


def _domain(row: Sequence) -> DomainRecord:
    return DomainRecord(row[0], row[1], row[2], bool(row[3]), row[4], row[5])
