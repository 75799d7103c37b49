"""Sending domains: the domains an account sends mail from, each using a tracking domain.

The Mailerlogic workflow ends with "assign the tracking domain to your sending domains"; the
assignment is what keeps a tracking domain from being deleted while mail may still carry its
links (:class:`~admin.errors.DomainInUse`). Names follow the tracking-domain syntax rules;
the platform's restricted names are about tracking hosts and do not apply here. A tracking
domain may be assigned before it is verified, so that set-up can happen in any order.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from admin.accounts.service import Account
from admin.api.errors import Conflict, InvalidData, NotFound
from admin.domains.service import COLUMNS as TRACKING_COLUMNS
from admin.domains.service import TrackingDomain, load_in_account
from admin.domains.validation import DomainRules
from edge.db.admin import AdminDatabase, fetch_one
from edge.hosts import normalise_host

COLUMNS = "s.id, s.account_id, s.domain, s.tracking_domain_id, t.domain, s.created_at, s.updated_at"
FROM = "sending_domains s LEFT JOIN tracking_domains t ON t.id = s.tracking_domain_id"


@dataclass(frozen=True, slots=True)
class SendingDomain:
    id: int
    account_id: int
    domain: str
    tracking_domain_id: int | None
    #: The assigned tracking domain's name, for display.
    tracking_domain: str | None
    created_at: int
    updated_at: int


class SendingDomains:
    def __init__(self, db: AdminDatabase, rules: DomainRules) -> None:
        self.db = db
        self.rules = rules

    async def list(self, account: Account) -> list[SendingDomain]:
        rows = await self.db.fetchall(
            f"SELECT {COLUMNS} FROM {FROM} WHERE s.account_id = ? ORDER BY s.id", (account.id,)
        )
        return [SendingDomain(*r) for r in rows]

    async def get(self, account: Account, domain_id: int) -> SendingDomain:
        async with self.db.transaction() as conn:
            return await _load(conn, account, domain_id)

    async def create(
        self, account: Account, name: object, tracking_domain_id: int | None = None
    ) -> SendingDomain:
        domain = self.rules.syntax(name)
        async with self.db.transaction() as conn:
            # Unique within the account only (migration 0006): whether another account sends
            # from this name is none of this one's business.
            taken = await fetch_one(
                conn,
                "SELECT 1 FROM sending_domains WHERE account_id = ? AND domain = ?",
                (account.id, domain),
            )
            if taken is not None:
                raise Conflict("The sending domain already exists.", field="domain")
            if tracking_domain_id is not None:
                await _tracking(conn, account, tracking_domain_id)
            cur = await conn.execute(
                "INSERT INTO sending_domains (account_id, domain, tracking_domain_id) "
                "VALUES (?, ?, ?)",
                (account.id, domain, tracking_domain_id),
            )
            return await _load(conn, account, cur.lastrowid)

    async def assign(
        self, account: Account, domain_id: int, tracking_domain_id: int | None
    ) -> SendingDomain:
        """Use ``tracking_domain_id`` for this sending domain (``None``: the default one)."""
        async with self.db.transaction() as conn:
            found = await _load(conn, account, domain_id)
            if tracking_domain_id is not None:
                await _tracking(conn, account, tracking_domain_id)
            await conn.execute(
                "UPDATE sending_domains SET tracking_domain_id = ?, updated_at = ? WHERE id = ?",
                (tracking_domain_id, int(time.time()), found.id),
            )
            return await _load(conn, account, found.id)

    async def tracking_domain_for(
        self, account: Account, sender: str | None = None
    ) -> TrackingDomain | None:
        """The tracking domain links of mail from ``sender`` should use, if it is served.

        ``sender`` is a sending domain or a From address (its domain part is used). Its
        assigned tracking domain wins; else the account's default; ``None`` means the
        platform's default domain. A domain that is not verified, or is blocked, is skipped:
        links on it would not be served.
        """
        name = normalise_host(sender.rpartition("@")[2]) if sender else None
        rows = await self.db.fetchall(
            f"SELECT {', '.join('t.' + c.strip() for c in TRACKING_COLUMNS.split(','))} "
            "FROM tracking_domains t LEFT JOIN sending_domains s "
            "ON s.tracking_domain_id = t.id AND s.domain = ? AND s.account_id = t.account_id "
            "WHERE t.account_id = ? AND (s.id IS NOT NULL OR t.is_default = 1) "
            "ORDER BY s.id IS NULL",
            (name, account.id),
        )
        for row in rows:
            candidate = TrackingDomain.from_row(row)
            if candidate.served:
                return candidate
        return None

    async def delete(self, account: Account, domain_id: int) -> None:
        async with self.db.transaction() as conn:
            found = await _load(conn, account, domain_id)
            await conn.execute("DELETE FROM sending_domains WHERE id = ?", (found.id,))


async def _load(conn, account: Account, domain_id: int) -> SendingDomain:
    row = await fetch_one(
        conn,
        f"SELECT {COLUMNS} FROM {FROM} WHERE s.id = ? AND s.account_id = ?",
        (domain_id, account.id),
    )
    if row is None:
        raise NotFound(domain_id)
    return SendingDomain(*row)


async def _tracking(conn, account: Account, tracking_domain_id: int) -> None:
    # Another account's tracking domain is as unknown here as anywhere: a 422 naming the
    # field, not a 404 for the sending domain the path names.
    try:
        await load_in_account(conn, account, tracking_domain_id)
    except NotFound:
        raise InvalidData(
            f"Tracking domain {tracking_domain_id} not found.", field="tracking_domain_id"
        ) from None
