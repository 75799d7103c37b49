"""Accounts and their API keys (the key itself is never stored: only its digest)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Account:
    id: int
    name: str
    #: The account's own label under ``EDGE_CNAME_TARGET``: its tracking domains' CNAMEs point
    #: at ``<cname_label>.<EDGE_CNAME_TARGET>``, which proves the name is this account's to use.
    #: Random, unique, never reused (not a secret: it is published in customers' DNS).
    cname_label: str


@dataclass(frozen=True, slots=True)
class ApiKey:
    """A stored key, without the key itself."""

    id: int
    account: Account
    prefix: str
    label: str | None
    created_at: int
    revoked_at: int | None

    @property
    def active(self) -> bool:
        return self.revoked_at is None
