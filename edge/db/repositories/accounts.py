"""``accounts`` and ``api_keys``."""

from __future__ import annotations

from edge.db.connection import Connection, Row
from edge.model.accounts import Account, AccountSummary, ApiKey

#: The columns :func:`account_from_row` reads, over ``accounts a``.
ACCOUNT_COLUMNS = "a.id, a.name, a.cname_label"
#: The columns :func:`key_from_row` reads, over :data:`KEYS`.
KEY_COLUMNS = f"k.id, {ACCOUNT_COLUMNS}, k.prefix, k.label, k.created_at, k.revoked_at, k.operator"
KEYS = "api_keys k JOIN accounts a ON a.id = k.account_id"


def account_from_row(row: Row) -> Account:
    """An account from the first columns of ``row``, :data:`ACCOUNT_COLUMNS`."""
    return Account(row[0], row[1], row[2])


def key_from_row(row: Row) -> ApiKey:
    """A key from the first columns of ``row``, :data:`KEY_COLUMNS`."""
    account = account_from_row(row[1:4])
    return ApiKey(row[0], account, row[4], row[5], row[6], row[7], bool(row[8]))


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
            f"SELECT {ACCOUNT_COLUMNS} FROM accounts a WHERE a.name = ?", (name,)
        )
        return account_from_row(row) if row is not None else None

    async def get(self, account_id: int) -> Account | None:
        row = await self.conn.fetchone(
            f"SELECT {ACCOUNT_COLUMNS} FROM accounts a WHERE a.id = ?", (account_id,)
        )
        return account_from_row(row) if row is not None else None

    async def summaries(self) -> list[AccountSummary]:
        """Every account, by name, with its active keys and tracking domains counted."""
        rows = await self.conn.fetchall(
            f"SELECT {ACCOUNT_COLUMNS}, a.created_at, "
            "(SELECT count(*) FROM api_keys k WHERE k.account_id = a.id "
            "AND k.revoked_at IS NULL), "
            "(SELECT count(*) FROM tracking_domains d WHERE d.account_id = a.id) "
            "FROM accounts a ORDER BY a.name"
        )
        return [AccountSummary(account_from_row(r), int(r[3]), int(r[4]), int(r[5])) for r in rows]

    async def insert_key(
        self,
        account: Account,
        key_hash: str,
        prefix: str,
        label: str | None,
        *,
        now: int,
        operator: bool = False,
    ) -> ApiKey:
        row = await self.conn.fetchone(
            "INSERT INTO api_keys (account_id, key_hash, prefix, label, created_at, operator) "
            "VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
            (account.id, key_hash, prefix, label, now, int(operator)),
        )
        assert row is not None
        return ApiKey(int(row[0]), account, prefix, label, now, None, operator)

    async def keys(self, account_id: int | None = None) -> list[ApiKey]:
        if account_id is None:
            rows = await self.conn.fetchall(f"SELECT {KEY_COLUMNS} FROM {KEYS} ORDER BY k.id")
        else:
            rows = await self.conn.fetchall(
                f"SELECT {KEY_COLUMNS} FROM {KEYS} WHERE a.id = ? ORDER BY k.id", (account_id,)
            )
        return [key_from_row(r) for r in rows]

    async def key(self, key_id: int) -> ApiKey | None:
        row = await self.conn.fetchone(
            f"SELECT {KEY_COLUMNS} FROM {KEYS} WHERE k.id = ?", (key_id,)
        )
        return key_from_row(row) if row is not None else None

    async def revoke_key(self, key_id: int, *, now: int) -> None:
        """Revoke a key; a revoked key keeps its first revocation time."""
        await self.conn.execute(
            "UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
            (now, key_id),
        )

    async def active_key(self, key_hash: str) -> ApiKey | None:
        """The active key with this digest (the unique index compares the digests, so no
        string comparison's timing says anything about a key)."""
        row = await self.conn.fetchone(
            f"SELECT {KEY_COLUMNS} FROM {KEYS} WHERE k.key_hash = ? AND k.revoked_at IS NULL",
            (key_hash,),
        )
        return key_from_row(row) if row is not None else None
