"""Sending domains: the domains an account sends mail from, each using a tracking domain.

The Mailerlogic workflow ends with "assign the tracking domain to your sending domains"; the
assignment is what keeps a tracking domain from being deleted while mail may still carry its
links (:class:`~admin.errors.DomainInUse`). Names follow the tracking-domain syntax rules;
the platform's restricted names are about tracking hosts and do not apply here. A tracking
domain may be assigned before it is verified, so that set-up can happen in any order.
"""

from __future__ import annotations

import time

from admin.api.errors import Conflict, InvalidData, NotFound
from admin.domains.service import load_in_account
from admin.domains.validation import DomainRules
from edge.db.repositories import Repositories
from edge.db.store import Store
from edge.hosts import normalise_host
from edge.model.accounts import Account
from edge.model.domains import TrackingDomain
from edge.model.sending import SendingDomain

__all__ = ["SendingDomain", "SendingDomains"]


class SendingDomains:
    def __init__(self, store: Store, rules: DomainRules) -> None:
        self.store = store
        self.rules = rules

    async def list(self, account: Account) -> list[SendingDomain]:
        async with self.store.reading() as db:
            return await db.sending.in_account(account.id)

    async def get(self, account: Account, domain_id: int) -> SendingDomain:
        async with self.store.reading() as db:
            return await _load(db, account, domain_id)

    async def create(
        self, account: Account, name: object, tracking_domain_id: int | None = None
    ) -> SendingDomain:
        domain = self.rules.syntax(name)
        async with self.store.transaction() as tx:
            # Unique within the account only (migration 0006): whether another account sends
            # from this name is none of this one's business.
            if await tx.sending.name_taken(account.id, domain):
                raise Conflict("The sending domain already exists.", field="domain")
            if tracking_domain_id is not None:
                await _tracking(tx, account, tracking_domain_id)
            new_id = await tx.sending.insert(
                account.id, domain, tracking_domain_id, now=int(time.time())
            )
            return await _load(tx, account, new_id)

    async def assign(
        self, account: Account, domain_id: int, tracking_domain_id: int | None
    ) -> SendingDomain:
        """Use ``tracking_domain_id`` for this sending domain (``None``: the default one)."""
        async with self.store.transaction() as tx:
            found = await _load(tx, account, domain_id)
            if tracking_domain_id is not None:
                await _tracking(tx, account, tracking_domain_id)
            await tx.sending.assign(found.id, tracking_domain_id, now=int(time.time()))
            return await _load(tx, account, found.id)

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
        async with self.store.reading() as db:
            candidates = await db.sending.tracking_candidates(account.id, name)
        return next((c for c in candidates if c.served), None)

    async def delete(self, account: Account, domain_id: int) -> None:
        async with self.store.transaction() as tx:
            found = await _load(tx, account, domain_id)
            await tx.sending.delete(found.id)


async def _load(db: Repositories, account: Account, domain_id: int) -> SendingDomain:
    found = await db.sending.get_in_account(account.id, domain_id)
    if found is None:
        raise NotFound(domain_id)
    return found


async def _tracking(db: Repositories, account: Account, tracking_domain_id: int) -> None:
    # Another account's tracking domain is as unknown here as anywhere: a 422 naming the
    # field, not a 404 for the sending domain the path names.
    try:
        await load_in_account(db, account, tracking_domain_id)
    except NotFound:
        raise InvalidData(
            f"Tracking domain {tracking_domain_id} not found.", field="tracking_domain_id"
        ) from None
