"""``accounts`` and ``api_keys``."""

from __future__ import annotations

from edge.db.connection import Connection, Row
from edge.model.accounts import Account, ApiKey

_ACCOUNT_COLUMNS = "a.id, a.name, a.cname_label"
_KEY_COLUMNS = f"k.id, {_ACCOUNT_COLUMNS}, k.prefix, k.label, k.created_at, k.revoked_at"
_KEYS = "api_keys k JOIN accounts a ON a.id = k.account_id"


def _account(row: Row) -> Account:
    return Account(row[0], row[1], row[2])


def _key(row: Row) -> ApiKey:
    return ApiKey(row[0], _account(row[1:4]), row[4], row[5], row[6], row[7])


class AccountRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    async def ensure(self, name: str, *, now: int) -> Account:
        """The account called ``name``, created if it does not exist."""
        await self.conn.execute(
            "INSERT INTO accounts (name, created_at) VALUES (?, ?) ON CONFLICT (name) DO NOTHING",
            (name, now),
        )
        account = await self.by_name(name)
        assert account is not None
        return account

    async def by_name(self, name: str) -> Account | None:
        row = await self.conn.fetchone(
            f"SELECT {_ACCOUNT_COLUMNS} FROM accounts a WHERE a.name = ?", (name,)
        )
        return _account(row) if row is not None else None

    async def get(self, account_id: int) -> Account | None:
        row = await self.conn.fetchone(
            f"SELECT {_ACCOUNT_COLUMNS} FROM accounts a WHERE a.id = ?", (account_id,)
        )
        return _account(row) if row is not None else None

    async def insert_key(
        self, account: Account, key_hash: str, prefix: str, label: str | None, *, now: int
    ) -> ApiKey:
        row = await self.conn.fetchone(
            "INSERT INTO api_keys (account_id, key_hash, prefix, label, created_at) "
            "VALUES (?, ?, ?, ?, ?) RETURNING id",
            (account.id, key_hash, prefix, label, now),
        )
        assert row is not None
        return ApiKey(int(row[0]), account, prefix, label, now, None)

    async def keys(self, account_id: int | None = None) -> list[ApiKey]:
        if account_id is None:
            rows = await self.conn.fetchall(f"SELECT {_KEY_COLUMNS} FROM {_KEYS} ORDER BY k.id")
        else:
            rows = await self.conn.fetchall(
                f"SELECT {_KEY_COLUMNS} FROM {_KEYS} WHERE a.id = ? ORDER BY k.id", (account_id,)
            )
        return [_key(r) for r in rows]

    async def key(self, key_id: int) -> ApiKey | None:
        row = await self.conn.fetchone(
            f"SELECT {_KEY_COLUMNS} FROM {_KEYS} WHERE k.id = ?", (key_id,)
        )
        return _key(row) if row is not None else None

    async def revoke_key(self, key_id: int, *, now: int) -> None:
        """Revoke a key; a revoked key keeps its first revocation time."""
        await self.conn.execute(
            "UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
            (now, key_id),
        )

    async def by_key_hash(self, key_hash: str) -> Account | None:
        """The account an active key with this digest belongs to (the unique index compares
        the digests, so no string comparison's timing says anything about a key)."""
        row = await self.conn.fetchone(
            f"SELECT {_ACCOUNT_COLUMNS} FROM {_KEYS} WHERE k.key_hash = ? AND k.revoked_at IS NULL",
            (key_hash,),
        )
        return _account(row) if row is not None else None
