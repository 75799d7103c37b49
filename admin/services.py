"""The admin side's long-lived parts, built once per worker and started with the server."""

from __future__ import annotations

from dataclasses import dataclass

from admin.accounts import Accounts
from admin.database import AdminDatabase
from edge.server import Runtime


@dataclass
class AdminServices:
    db: AdminDatabase
    accounts: Accounts

    @classmethod
    def build(cls, runtime: Runtime) -> AdminServices:
        db = AdminDatabase(runtime.settings.database_path)
        return cls(db, Accounts(db))

    async def start(self) -> None:
        await self.db.open()

    async def stop(self) -> None:
        await self.db.close()
