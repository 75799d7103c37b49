"""The tracking-domain service: the one place for the rules both API dialects share.

Every method takes the caller's :class:`~edge.model.accounts.Account` and looks domains up
inside it only, so another account's domain is :class:`~admin.api.errors.NotFound` (404),
never a 403 that would confirm it exists.

Who may use a name is proven, not claimed. Each account has a CNAME target of its own,
``<account.cname_label>.<EDGE_CNAME_TARGET>`` (:meth:`DomainService.target_for`); a name
verifies only for the account whose target its CNAME chain reaches, since a name has one CNAME
(RFC 1034 §3.6.2), it proves one account at a time. So a CNAME left in place after an account
deletes its domain verifies for nobody else, and several accounts may hold unverified claims on
one name without blocking the one that proves control. Verifying takes the name: another
account's verified row for it becomes ``invalid`` (one host routes to one account; the schema
allows one verified row per name). Claiming a name another account has verified, or one this
account has already, is a 409.

The states and the rule that serves a domain are :mod:`edge.model.domains`'. A domain that
is already valid stays valid (and served, and default) while it is re-verified, and when a
check fails only temporarily (resolver timeout, connection error). Only a verified,
unblocked domain may be the default; one default per account, and making another the
default moves it. A domain that stops being valid, or is blocked, stops being default.
"""

from __future__ import annotations

import logging
import time
from dataclasses import replace
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
from edge.model.domains import ComplianceStatus, TrackingDomain

if TYPE_CHECKING:
    from admin.domains.dns import CnameCheck
    from admin.domains.reachability import ReachCheck

log = logging.getLogger("admin.domains")

#: The customer-visible reason when a check itself broke (the exception goes to the log).
CHECK_BROKE = "The verification could not be completed because of an error on our side."
#: The reason a verified domain gets when another account proves control of its name.
TAKEN_OVER = "{name} was verified by another account: its CNAME points to that account's target"
#: A domain is referred to by id (Mailerlogic dialect) or by name (SparkPost dialect).
DomainRef = int | str


class CnameChecker(Protocol):
    async def check(self, domain: str, target: str | None = None) -> CnameCheck: ...


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


def account_target(account: Account, cname_target: str) -> str:
    """Where ``account``'s tracking domains must point their CNAME: its own name under
    ``EDGE_CNAME_TARGET`` (the operator's wildcard record ``*.<EDGE_CNAME_TARGET>`` sends it
    to the edge), which no other account has."""
    return f"{account.cname_label}.{cname_target}"


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
        #: ``EDGE_CNAME_TARGET``, under which every account has its own target.
        self.cname_target = cname_target

    def target_for(self, account: Account) -> str:
        """Where ``account``'s tracking domains must point their CNAME (:func:`account_target`)."""
        return account_target(account, self.cname_target)

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
            # Checked inside the write transaction; the schema holds the same rules (one row
            # per account and name, one verified row per name). Other accounts' unverified
            # claims do not count: a claim proves nothing, so it must not keep the name from
            # the account that can prove control.
            if await tx.domains.taken_for(account.id, domain):
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
            if await tx.domains.taken_for(account.id, domain):
                raise Conflict("The tracking domain already exists.")
            await tx.domains.rename(found.id, domain, now=_now())
            renamed = await load_in_account(tx, account, found.id)
            orphaned = await tx.domains.owner(found.domain) is None
        if orphaned and self.provisioner is not None:
            await self.provisioner.forget(found.id, found.domain)
        return renamed

    async def delete(self, account: Account, ref: DomainRef) -> None:
        async with self.store.transaction() as tx:
            found = await load_in_account(tx, account, ref)
            users = await tx.sending.names_using(found.id)
            if users:
                raise DomainInUse(found.domain, users)
            await tx.domains.delete(found.id)
            orphaned = await tx.domains.owner(found.domain) is None
        # The certificate is the name's owner's: another account's claim going leaves it.
        if orphaned and self.provisioner is not None:
            await self.provisioner.forget(found.id, found.domain)

    # -- verification -----------------------------------------------------------------------

    async def verify(self, account: Account, ref: DomainRef) -> TrackingDomain:
        """Check that the CNAME reaches the account's target, then that the name reaches this
        edge; raise :class:`Unreachable` when only the second fails. On success the account
        owns the name (another account that had it verified loses it) and the certificate is
        requested."""
        async with self.store.transaction() as tx:
            found = await load_in_account(tx, account, ref)
            if not found.verified:
                await tx.domains.mark_pending(found.id, now=_now())
        unreachable: ReachCheck | None = None
        try:
            check, keep = await self._check_cname(found.domain, self.target_for(account))
            if check.valid:
                reach = await self.reach.check(found.domain)
                if not reach.ok:
                    unreachable = reach
        except Exception:
            # A check that breaks must not leave the domain pending forever. The exception
            # goes to the log only: its text may name internals (paths, addresses, queries).
            log.exception("verification of %s failed", found.domain)
            failed = await self._record(found, False, CHECK_BROKE, keep=True)
            if failed is None:
                raise NotFound(ref) from None
            return failed
        if unreachable is not None:
            # A timeout or connection error does not withdraw a domain that was valid (it
            # stays served, and default); a wrong answer does.
            outcome = await self._record(
                found, False, unreachable.reason, keep=unreachable.temporary
            )
        else:
            outcome = await self._record(found, check.valid, check.reason, keep=keep)
        if outcome is None:  # renamed or deleted meanwhile
            raise NotFound(ref)
        if unreachable is not None:
            raise Unreachable(unreachable.url, unreachable.reason)
        if outcome.served and self.provisioner is not None:
            await self.provisioner.provision(outcome.id)
            # provision() moved ssl_status on (to provisioning): answer the row as it is now.
            return await self.get(account, outcome.id)
        return outcome

    async def _check_cname(self, domain: str, target: str) -> tuple[CnameCheck, bool]:
        """The CNAME check of ``domain`` against the account's ``target``, and whether its
        outcome keeps a verified domain verified (a temporary failure, or the shared target).

        A CNAME to ``EDGE_CNAME_TARGET`` itself proves no account, so it never verifies a
        domain; but domains verified before each account had a target of its own point there,
        and it keeps them verified (as a resolver timeout does) with a reason asking for
        ``target``.
        """
        check = await self.cname.check(domain, target)
        if check.valid or check.chain[-1:] != (self.cname_target,):
            return check, check.temporary
        reason = f"CNAME points to {self.cname_target}, which every account shares: point it to "
        return replace(check, reason=reason + target), True

    async def _record(
        self, found: TrackingDomain, valid: bool, reason: str, *, keep: bool
    ) -> TrackingDomain | None:
        """Store a check's outcome, unless the domain changed name (or went) meanwhile.

        ``keep``: the outcome does not withdraw a domain that was valid (a resolver timeout).
        A valid outcome takes the name from any other account that had it verified.
        """
        now, checked = _now(), time.time()
        async with self.store.transaction() as tx:
            if valid:
                # Two accounts proving control at once (a CNAME changed between their checks)
                # take turns here; the later one owns the name, as DNS says by then.
                await tx.domains.lock_name(found.domain)
            current = await tx.domains.still_named(found.id, found.domain)
            if current is None:
                return None
            if valid:
                taken = TAKEN_OVER.format(name=found.domain)
                if await tx.domains.take_over(
                    found.id, found.domain, taken, checked=checked, now=now
                ):
                    log.warning(
                        "tracking domain %s: account %d proved control, another account lost it",
                        found.domain, found.account_id,
                    )  # fmt: skip
                await tx.domains.mark_valid(found.id, reason, checked=checked, now=now)
                if await tx.domains.blocked(found.domain):
                    # The operator's block holds for the name, whichever account proves it.
                    await tx.domains.set_compliance(found.id, blocked=True, now=now)
            elif keep and current.verified:
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
                account = await tx.accounts.get(found.account_id)
            if not claimed or account is None:
                continue
            checked += 1
            try:
                check, keep = await self._check_cname(found.domain, self.target_for(account))
            except Exception:
                # One broken check must not stop the others; the domain keeps its state.
                log.exception("re-check of %s failed", found.domain)
                continue
            outcome = await self._record(found, check.valid, check.reason, keep=keep)
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
    """The operator's switch: block (not served, not default) or unblock ``domain``, for every
    account that claims it; returns the owner's (or the first claim's) new status.

    Unblocking restores ``valid`` for a verified domain, ``pending`` otherwise. The block is
    on the name: a claim made after it (once the blocked rows were deleted or renamed) is
    blocked as it is verified, and a name no row claims any more can still be unblocked.
    """
    async with store.transaction() as tx:
        claims = await tx.domains.named(domain)
        # A name is blocked as a domain some account has; unblocked, also once none has it.
        if not claims and (blocked or not await tx.domains.blocked(domain)):
            raise DomainNotFound(domain)
        await tx.domains.block_name(domain, blocked=blocked, now=_now())
        for claim in claims:
            await tx.domains.set_compliance(claim.id, blocked=blocked, now=_now())
        changed = await tx.domains.get(claims[0].id) if claims else None
    if changed is None:
        return ComplianceStatus.PENDING  # what a claim of the name would start as
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
