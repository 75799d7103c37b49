"""Erasures on SQLite: the shared repository, and the roll-up's mark kept below new rowids."""

from __future__ import annotations

from edge.db.repositories.erasures import ErasureRepository
from edge.db.sqlite.rollups import SQLiteRollups


class SQLiteErasures(ErasureRepository):
    async def _events_deleted(self) -> None:
        await SQLiteRollups(self.conn).events_deleted()
