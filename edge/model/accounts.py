"""Accounts and their API keys (the key itself is never stored: only its digest)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Account:
    id: int
    name: str


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
