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
from edge.model.accounts import Account, AccountSummary, ApiKey

__all__ = [
    "Account",
    "AccountExists",
    "Accounts",
    "ApiKey",
    "InvalidAccountName",
    "NewKey",
    "UnknownKey",
    "hash_key",
]

#: Most characters in an account name.
MAX_NAME_LENGTH = 100


@dataclass(frozen=True, slots=True)
class NewKey:
    """What :meth:`Accounts.create_key` returns: the only time ``secret`` is known."""

    key: ApiKey
    secret: str


class UnknownKey(LookupError):
    """No key with that id (``revoke``), or none in the account (``revoke_in_account``)."""


class AccountExists(ValueError):
    """``create``: an account of that name exists already."""


class InvalidAccountName(ValueError):
    """An account name that is blank, too long or holds control characters."""


def account_name(name: str) -> str:
    """``name`` as stored: surrounding spaces dropped; raises :class:`InvalidAccountName`."""
    name = name.strip()
    if not name:
        raise InvalidAccountName("an account name is needed")
    if len(name) > MAX_NAME_LENGTH:
        raise InvalidAccountName(f"an account name has at most {MAX_NAME_LENGTH} characters")
    if any(ch < " " or ch == "\x7f" for ch in name):
        raise InvalidAccountName("an account name holds no control characters")
    return name


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

    async def create(self, name: str) -> Account:
        """A new account (the operator's); :class:`AccountExists` if the name is taken."""
        name = account_name(name)
        async with self.store.transaction() as tx:
            if await tx.accounts.by_name(name) is not None:
                raise AccountExists(f"an account named {name!r} exists already")
            return await tx.accounts.ensure(name, now=int(time.time()))

    async def by_name(self, name: str) -> Account | None:
        async with self.store.reading() as db:
            return await db.accounts.by_name(name)

    async def get(self, account_id: int) -> Account | None:
        async with self.store.reading() as db:
            return await db.accounts.get(account_id)

    async def summaries(self) -> list[AccountSummary]:
        """Every account with its active keys and tracking domains counted (the operator's)."""
        async with self.store.reading() as db:
            return await db.accounts.summaries()

    async def create_key(
        self, account: Account, label: str | None = None, *, operator: bool = False
    ) -> NewKey:
        """A new key of ``account``; ``operator`` keys are made by the command line only."""
        secret = secrets.token_hex(self.key_bytes)
        async with self.store.transaction() as tx:
            key = await tx.accounts.insert_key(
                account,
                hash_key(secret),
                secret[: self.prefix_length],
                label,
                now=int(time.time()),
                operator=operator,
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

    async def revoke_in_account(self, account: Account, key_id: int) -> ApiKey:
        """Revoke a key of ``account``; another account's key is :class:`UnknownKey`."""
        async with self.store.transaction() as tx:
            found = await tx.accounts.key(key_id)
            if found is None or found.account.id != account.id:
                raise UnknownKey(key_id)
            await tx.accounts.revoke_key(key_id, now=int(time.time()))
            key = await tx.accounts.key(key_id)
        assert key is not None
        return key

    async def authenticate(self, secret: str) -> Account | None:
        """The account an active key belongs to, or ``None``."""
        key = await self.authenticate_key(secret)
        return key.account if key is not None else None

    async def authenticate_key(self, secret: str) -> ApiKey | None:
        """The active key ``secret`` is, or ``None``."""
        async with self.store.reading() as db:
            return await db.accounts.active_key(hash_key(secret))
