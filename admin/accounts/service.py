"""Accounts and their API keys.

A key is 40 random hex characters (160 bits, the shape SparkPost keys have), shown once when
it is created. Only its SHA-256 is stored: a leaked database does not leak working keys, and a
key that random needs no salt or slow hash. Lookups compare digests through the database's
unique index, so no timing of string comparison reveals anything about a key.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass

from edge.db.store import Store
from edge.model.accounts import Account, ApiKey

__all__ = ["Account", "Accounts", "ApiKey", "NewKey", "UnknownKey", "hash_key"]


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

    def __init__(self, store: Store) -> None:
        self.store = store

    async def ensure(self, name: str) -> Account:
        """The account called ``name``, created if it does not exist."""
        name = name.strip()
        if not name:
            raise ValueError("an account name is needed")
        async with self.store.transaction() as tx:
            return await tx.accounts.ensure(name, now=int(time.time()))

    async def by_name(self, name: str) -> Account | None:
        async with self.store.reading() as db:
            return await db.accounts.by_name(name)

    async def create_key(self, account: Account, label: str | None = None) -> NewKey:
        secret = secrets.token_hex(self.key_bytes)
        async with self.store.transaction() as tx:
            key = await tx.accounts.insert_key(
                account,
                hash_key(secret),
                secret[: self.prefix_length],
                label,
                now=int(time.time()),
            )
        return NewKey(key, secret)

    async def list_keys(self, account: Account | None = None) -> list[ApiKey]:
        async with self.store.reading() as db:
            return await db.accounts.keys(account.id if account is not None else None)

    async def revoke(self, key_id: int) -> ApiKey:
        """Revoke a key; revoking a revoked key keeps its first revocation time."""
        async with self.store.transaction() as tx:
            await tx.accounts.revoke_key(key_id, now=int(time.time()))
            key = await tx.accounts.key(key_id)
        if key is None:
            raise UnknownKey(key_id)
        return key

    async def authenticate(self, secret: str) -> Account | None:
        """The account an active key belongs to, or ``None``."""
        async with self.store.reading() as db:
            return await db.accounts.by_key_hash(hash_key(secret))
