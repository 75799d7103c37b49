"""The SQL surface repositories are written against: four calls, ``?`` placeholders.

Each engine adapts its driver to :class:`Connection` (``edge.db.sqlite.connection``), so the
repositories in :mod:`edge.db.repositories` hold one copy of each portable statement. What
cannot be portable (how events are bulk-inserted, the order in which they were committed,
schema versions) lives in the engine's own package.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Protocol

#: A result row: a tuple on SQLite; any sequence of column values on another engine.
Row = Sequence[Any]


class Connection(Protocol):
    """A connection, or a transaction on one, as repositories use it."""

    async def execute(self, sql: str, args: Sequence[Any] = ()) -> int:
        """Run one statement; returns the number of rows it changed."""

    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        """Run one statement once per parameter row."""

    async def fetchone(self, sql: str, args: Sequence[Any] = ()) -> Row | None:
        """The first row of the result, or ``None``."""

    async def fetchall(self, sql: str, args: Sequence[Any] = ()) -> list[Row]:
        """Every row of the result."""
