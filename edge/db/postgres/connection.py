"""asyncpg behind :class:`edge.db.connection.Connection`: ``?`` placeholders become ``$n``."""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from typing import Any

import asyncpg

from edge.db.connection import Row


@functools.lru_cache(maxsize=1024)
def numbered(sql: str) -> str:
    """``?`` → ``$1``, ``$2``... The repositories' SQL never holds a ``?`` in a literal."""
    parts = sql.split("?")
    out = [parts[0]]
    for n, part in enumerate(parts[1:], 1):
        out.append(f"${n}{part}")
    return "".join(out)


def _rowcount(status: str) -> int:
    # asyncpg returns the command tag: "UPDATE 3", "DELETE 0", "INSERT 0 1".
    last = status.rpartition(" ")[2]
    return int(last) if last.isdigit() else 0


class PostgresConnection:
    __slots__ = ("raw",)

    def __init__(self, raw: asyncpg.Connection) -> None:
        self.raw = raw

    async def execute(self, sql: str, args: Sequence[Any] = ()) -> int:
        return _rowcount(await self.raw.execute(numbered(sql), *args))

    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        await self.raw.executemany(numbered(sql), list(rows))

    async def fetchone(self, sql: str, args: Sequence[Any] = ()) -> Row | None:
        row = await self.raw.fetchrow(numbered(sql), *args)
        return tuple(row) if row is not None else None

    async def fetchall(self, sql: str, args: Sequence[Any] = ()) -> list[Row]:
        return [tuple(r) for r in await self.raw.fetch(numbered(sql), *args)]
