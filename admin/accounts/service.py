"""Accounts and their API keys.

A key is 40 random hex characters (160 bits, the shape SparkPost keys have), shown once when
it is created. Only its SHA-256 is stored: a leaked database does not leak working keys, and a
key that random needs no salt or slow hash. Lookups compare digests through the database's
unique index, so no timing of string comparison reveals anything about a key.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from edge.db.admin import AdminDatabase, fetch_one


@dataclass(frozen=True, slots=True)
class Account:
    id: int
    name: str


@dataclass(frozen=True, slots=True)
class ApiKey:
    """A stored key, without the key itself (which is never stored)."""

    id: int
    account: Account
    prefix: str
    label: str | None
    created_at: int
    revoked_at: int | None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


@dataclass(frozen=True, slots=True)
class NewKey:
    """What :meth:`Accounts.create_key` returns: the only time ``secret`` is known."""

    key: ApiKey
    secret: str


class UnknownKey(LookupError):
    """No key with that id (``revoke``)."""


def hash_key(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


class Accounts:
    """Accounts and keys in the store."""

    #: Random bytes in a new key (hex-encoded, so the key is twice as many characters).
    key_bytes = 20
    #: Characters of a key kept in clear, to tell keys apart in ``keys list``.
    prefix_length = 6

    def __init__(self, db: AdminDatabase) -> None:
        self.db = db

    async def ensure(self, name: str) -> Account:
        """The account called ``name``, created if it does not exist."""
        name = name.strip()
        if not name:
            raise ValueError("an account name is needed")
        async with self.db.transaction() as conn:
            await conn.execute("INSERT OR IGNORE INTO accounts (name) VALUES (?)", (name,))
            row = await fetch_one(conn, "SELECT id, name FROM accounts WHERE name = ?", (name,))
        return Account(row[0], row[1])

    async def by_name(self, name: str) -> Account | None:
        row = await self.db.fetchone("SELECT id, name FROM accounts WHERE name = ?", (name,))
        return Account(row[0], row[1]) if row else None

    async def create_key(self, account: Account, label: str | None = None) -> NewKey:
        secret = secrets.token_hex(self.key_bytes)
        prefix = secret[: self.prefix_length]
        async with self.db.transaction() as conn:
            cur = await conn.execute(
                "INSERT INTO api_keys (account_id, key_hash, prefix, label) VALUES (?, ?, ?, ?)",
                (account.id, hash_key(secret), prefix, label),
            )
            key_id = cur.lastrowid
            row = await fetch_one(conn, "SELECT created_at FROM api_keys WHERE id = ?", (key_id,))
        return NewKey(ApiKey(key_id, account, prefix, label, row[0], None), secret)

    async def list_keys(self, account: Account | None = None) -> list[ApiKey]:
        sql = (
            "SELECT k.id, a.id, a.name, k.prefix, k.label, k.created_at, k.revoked_at "
            "FROM api_keys k JOIN accounts a ON a.id = k.account_id"
        )
        args: tuple = ()
        if account is not None:
            sql += " WHERE a.id = ?"
            args = (account.id,)
        rows = await self.db.fetchall(sql + " ORDER BY k.id", args)
        return [ApiKey(r[0], Account(r[1], r[2]), r[3], r[4], r[5], r[6]) for r in rows]

    async def revoke(self, key_id: int) -> ApiKey:
        """Revoke a key; revoking a revoked key keeps its first revocation time."""
        async with self.db.transaction() as conn:
            await conn.execute(
                "UPDATE api_keys SET revoked_at = CAST(strftime('%s', 'now') AS INTEGER) "
                "WHERE id = ? AND revoked_at IS NULL",
                (key_id,),
            )
        for key in await self.list_keys():
            if key.id == key_id:
                return key
        raise UnknownKey(key_id)

    async def authenticate(self, secret: str) -> Account | None:
        """The account an active key belongs to, or ``None``."""
        row = await self.db.fetchone(
            "SELECT a.id, a.name FROM api_keys k JOIN accounts a ON a.id = k.account_id "
            "WHERE k.key_hash = ? AND k.revoked_at IS NULL",
            (hash_key(secret),),
        )
        return Account(row[0], row[1]) if row else None
