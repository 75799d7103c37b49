"""The tracking-domain service: the one place for the rules both API dialects share.

Every method takes the caller's :class:`~edge.model.accounts.Account` and looks domains up
inside it only, so another account's domain is :class:`~admin.api.errors.NotFound` (404),
never a 403 that would confirm it exists. Claiming a name another account holds is a 409:
names are unique across the whole edge, since one host can only route to one account.

The states and the rule that serves a domain are :mod:`edge.model.domains`'. A domain that
is already valid stays valid (and served, and default) while it is re-verified, and when a
check fails only temporarily (resolver timeout, connection error). Only a verified,
unblocked domain may be the default; one default per account, and making another the
default moves it. A domain that stops being valid, or is blocked, stops being default.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Protocol

from admin.api.errors import (
    Blocked,
    Conflict,
    DomainInUse,
    NotConfigured,
    NotFound,
    Unreachable,
    Unverified,
)
from admin.domains.provisioning import CertificateProvisioner, SslInfo
from admin.domains.validation import DomainRules
from edge.db.repositories import Repositories
from edge.db.store import Store
from edge.hosts import normalise_host
from edge.model.accounts import Account
from edge.model.domains import TrackingDomain

if TYPE_CHECKING:
    from admin.domains.dns import CnameCheck
    from admin.domains.reachability import ReachCheck

log = logging.getLogger("admin.domains")

#: The customer-visible reason when a check itself broke (the exception goes to the log).
CHECK_BROKE = "The verification could not be completed because of an error on our side."
#: A domain is referred to by id (Mailerlogic dialect) or by name (SparkPost dialect).
DomainRef = int | str


class CnameChecker(Protocol):
    async def check(self, domain: str) -> CnameCheck: ...


class ReachChecker(Protocol):
    async def check(self, domain: str) -> ReachCheck: ...


class DomainNotFound(LookupError):
    """No tracking domain of that name (operator actions, which have no account)."""


def require_served(domain: TrackingDomain) -> None:
    """Raise why ``domain`` cannot be used for links, a default or a certificate."""
    if not domain.verified:
        raise Unverified(domain.domain)
    if domain.blocked:
        raise Blocked(domain.domain)


def _now() -> int:
    return int(time.time())


class DomainService:
    def __init__(
        self,
        store: Store,
        rules: DomainRules,
        cname: CnameChecker,
        reach: ReachChecker,
        provisioner: CertificateProvisioner | None,
        *,
        cname_target: str,
    ) -> None:
        self.store = store
        self.rules = rules
        self.cname = cname
        self.reach = reach
        self.provisioner = provisioner
        self.cname_target = cname_target

    # -- reading ----------------------------------------------------------------------------

    async def list(self, account: Account) -> list[TrackingDomain]:
        async with self.store.reading() as db:
            return await db.domains.in_account(account.id)

    async def get(self, account: Account, ref: DomainRef) -> TrackingDomain:
        async with self.store.reading() as db:
            return await load_in_account(db, account, ref)

    # -- writing ----------------------------------------------------------------------------

    async def create(
        self, account: Account, name: object, *, secure: bool = False, default: bool = False
    ) -> TrackingDomain:
        domain = self.rules.parse(name)
        async with self.store.transaction() as tx:
            # Checked inside the write transaction, which serialises with every other writer
            # in this process or another: nobody can claim the name in between.
            if await tx.domains.name_taken(domain):
                raise Conflict("The tracking domain already exists.")
            if default:
                # A new domain is never verified yet (the seed's 422 on create).
                raise Unverified(domain)
            new_id = await tx.domains.insert(account.id, domain, secure=secure, now=_now())
            return await load_in_account(tx, account, new_id)

    async def update(
        self,
        account: Account,
        ref: DomainRef,
        *,
        secure: bool | None = None,
        default: bool | None = None,
    ) -> TrackingDomain:
        async with self.store.transaction() as tx:
            found = await load_in_account(tx, account, ref)
            if default:
                require_served(found)
                await tx.domains.clear_default(account.id, except_id=found.id, now=_now())
            await tx.domains.set_flags(found.id, secure=secure, default=default, now=_now())
            return await load_in_account(tx, account, found.id)

    async def rename(self, account: Account, ref: DomainRef, name: object) -> TrackingDomain:
        """A new name must be verified again and gets a new certificate."""
        domain = self.rules.parse(name)
        async with self.store.transaction() as tx:
            found = await load_in_account(tx, account, ref)
            if domain == found.domain:
                return found
            if await tx.domains.name_taken(domain):
                raise Conflict("The tracking domain already exists.")
            await tx.domains.rename(found.id, domain, now=_now())
            renamed = await load_in_account(tx, account, found.id)
        if self.provisioner is not None:
            await self.provisioner.forget(found.id, found.domain)
        return renamed

    async def delete(self, account: Account, ref: DomainRef) -> None:
        async with self.store.transaction() as tx:
            found = await load_in_account(tx, account, ref)
            users = await tx.sending.names_using(found.id)
            if users:
                raise DomainInUse(found.domain, users)
            await tx.domains.delete(found.id)
        if self.provisioner is not None:
            await self.provisioner.forget(found.id, found.domain)

    # -- verification -----------------------------------------------------------------------

    async def verify(self, account: Account, ref: DomainRef) -> TrackingDomain:
        """Check the CNAME, then that the name reaches this edge; raise :class:`Unreachable`
        when only the second fails. On success the certificate is requested."""
        async with self.store.transaction() as tx:
            found = await load_in_account(tx, account, ref)
            if not found.verified:
                await tx.domains.mark_pending(found.id, now=_now())
        unreachable: ReachCheck | None = None
        try:
            check = await self.cname.check(found.domain)
            if check.valid:
                reach = await self.reach.check(found.domain)
                if not reach.ok:
                    unreachable = reach
        except Exception:
            # A check that breaks must not leave the domain pending forever. The exception
            # goes to the log only: its text may name internals (paths, addresses, queries).
            log.exception("verification of %s failed", found.domain)
            failed = await self._record(found, False, CHECK_BROKE, temporary=True)
            if failed is None:
                raise NotFound(ref) from None
            return failed
        if unreachable is not None:
            # A timeout or connection error does not withdraw a domain that was valid (it
            # stays served, and default); a wrong answer does.
            outcome = await self._record(
                found, False, unreachable.reason, temporary=unreachable.temporary
            )
        else:
            outcome = await self._record(
                found, check.valid, check.reason, temporary=check.temporary
            )
        if outcome is None:  # renamed or deleted meanwhile
            raise NotFound(ref)
        if unreachable is not None:
            raise Unreachable(unreachable.url, unreachable.reason)
        if outcome.served and self.provisioner is not None:
            await self.provisioner.provision(outcome.id)
            # provision() moved ssl_status on (to provisioning): answer the row as it is now.
            return await self.get(account, outcome.id)
        return outcome

    async def _record(
        self, found: TrackingDomain, valid: bool, reason: str, *, temporary: bool
    ) -> TrackingDomain | None:
        """Store a check's outcome, unless the domain changed name (or went) meanwhile.

        A temporary failure (resolver timeout) does not withdraw a domain that was valid.
        """
        now, checked = _now(), time.time()
        async with self.store.transaction() as tx:
            current = await tx.domains.still_named(found.id, found.domain)
            if current is None:
                return None
            if valid:
                await tx.domains.mark_valid(found.id, reason, checked=checked, now=now)
            elif temporary and current.verified:
                await tx.domains.note_check(found.id, reason, checked=checked)
            else:
                await tx.domains.mark_invalid(found.id, reason, checked=checked, now=now)
            return await tx.domains.get(found.id)

    async def recheck_due(self, interval: float) -> int:
        """Re-check the CNAME of every verified domain not checked for ``interval`` seconds.

        Each domain is claimed by moving its ``checked_at`` first, so several workers running
        this loop check each domain once. Returns how many were checked.
        """
        now = time.time()
        async with self.store.reading() as db:
            due = await db.domains.due_for_recheck(now - interval)
        checked = 0
        for found in due:
            async with self.store.transaction() as tx:
                claimed = await tx.domains.claim_recheck(found.id, found.checked_at, now)
            if not claimed:
                continue
            checked += 1
            try:
                check = await self.cname.check(found.domain)
            except Exception:
                # One broken check must not stop the others; the domain keeps its state.
                log.exception("re-check of %s failed", found.domain)
                continue
            outcome = await self._record(
                found, check.valid, check.reason, temporary=check.temporary
            )
            if outcome is not None and not outcome.verified:
                log.warning("tracking domain %s is no longer valid: %s", found.domain, check.reason)
        return checked

    # -- certificates -----------------------------------------------------------------------

    async def ssl(self, account: Account, ref: DomainRef) -> tuple[TrackingDomain, SslInfo]:
        """The domain and its SSL state as clients are told it (:meth:`SslInfo.as_reported`)."""
        found = await self.get(account, ref)
        if self.provisioner is None:
            info = SslInfo(found.ssl_status)
        else:
            info = await self.provisioner.status(found.id)
        return found, info.as_reported(found)

    async def provision_ssl(self, account: Account, ref: DomainRef) -> TrackingDomain:
        """Re-issue the certificate now (the manual ``POST .../ssl``); verified domains only."""
        found = await self.get(account, ref)
        require_served(found)
        if self.provisioner is None:
            raise NotConfigured("Certificate provisioning is not configured on this server.")
        await self.provisioner.provision(found.id, force=True)
        return await self.get(account, found.id)


async def set_compliance(store: Store, domain: str, *, blocked: bool) -> str:
    """The operator's switch: block (not served, not default) or unblock ``domain``.

    Unblocking restores ``valid`` for a verified domain, ``pending`` otherwise.
    """
    async with store.transaction() as tx:
        found = await tx.domains.by_name(domain)
        if found is None:
            raise DomainNotFound(domain)
        await tx.domains.set_compliance(found.id, blocked=blocked, now=_now())
        changed = await tx.domains.get(found.id)
    assert changed is not None
    return changed.compliance_status


async def load_in_account(db: Repositories, account: Account, ref: DomainRef) -> TrackingDomain:
    """The domain ``ref`` (an id, or a name as given) of ``account``; :class:`NotFound` else."""
    found: TrackingDomain | None = None
    if isinstance(ref, int):
        found = await db.domains.get_in_account(account.id, ref)
    else:
        name = normalise_host(ref)
        if name:
            found = await db.domains.by_name_in_account(account.id, name)
    if found is None:
        raise NotFound(ref)
    return found
