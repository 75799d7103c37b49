"""Accounts, their API keys (the key itself is never stored: only its digest), and the
console's sessions and account summaries."""

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
    #: An operator's key (``tracking-edge keys create --operator``): in the console it sees
    #: every account, creates accounts and keys, and blocks or unblocks tracking domains.
    operator: bool = False

    @property
    def active(self) -> bool:
        return self.revoked_at is None


@dataclass(frozen=True, slots=True)
class AccountSummary:
    """An account as the operator's list shows it."""

    account: Account
    created_at: int
    active_keys: int
    tracking_domains: int


@dataclass(frozen=True, slots=True)
class ConsoleSession:
    """A signed-in console session: the key it signed in with (active, or the session is
    over) and the account it is looking at (the key's own, or one an operator chose)."""

    key: ApiKey
    account: Account
    created_at: int
    expires_at: int

    @property
    def operator(self) -> bool:
        return self.key.operator
