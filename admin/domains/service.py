"""The tracking-domain service: the one place for the rules both API dialects share.

Every method takes the caller's :class:`~admin.accounts.Account` and looks domains up inside
it only, so another account's domain is :class:`~admin.errors.NotFound` (404), never a 403
that would confirm it exists. Claiming a name another account holds is a 409: names are
unique across the whole edge, since one host can only route to one account.

State machine (``cname_status``, ``verified`` is ``cname_status == "valid"``)::

    unverified ──verify──▶ pending ──CNAME ok, reaches the edge──▶ valid ──▶ served
                              └──────── otherwise ─────────────▶ invalid
    valid ──re-check finds the CNAME gone, or a wrong answer──▶ invalid (no longer served)
    any ──rename──▶ unverified (certificate dropped, default cleared)

A domain that is already valid stays valid (and served, and default) while it is re-verified,
and when a check fails only temporarily (resolver timeout, connection error). Only a
verified, unblocked domain may be the default; one default per account, and making another
the default moves it. A domain that stops being valid, or is blocked, stops being default.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from admin.accounts.service import Account
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
from edge.db.admin import AdminDatabase, fetch_all, fetch_one
from edge.hosts import normalise_host

if TYPE_CHECKING:
    from admin.domains.dns import CnameCheck
    from admin.domains.reachability import ReachCheck

log = logging.getLogger("admin.domains")

COLUMNS = (
    "id, account_id, domain, secure, is_default, cname_status, cname_reason, "
    "compliance_status, ssl_status, created_at, updated_at, checked_at"
)
#: The customer-visible reason when a check itself broke (the exception goes to the log).
CHECK_BROKE = "The verification could not be completed because of an error on our side."
#: The "served" rule in SQL, for ``tracking_domains`` aliased ``d``: verified and not blocked.
#: The same rule as :attr:`TrackingDomain.served` and :attr:`edge.store.DomainRecord.served`.
SERVED_SQL = "d.cname_status = 'valid' AND d.compliance_status != 'blocked'"
#: A domain is referred to by id (Mailerlogic dialect) or by name (SparkPost dialect).
DomainRef = int | str


class CnameChecker(Protocol):
    async def check(self, domain: str) -> CnameCheck: ...


class ReachChecker(Protocol):
    async def check(self, domain: str) -> ReachCheck: ...


class DomainNotFound(LookupError):
    """No tracking domain of that name (operator actions, which have no account)."""


@dataclass(frozen=True, slots=True)
class TrackingDomain:
    id: int
    account_id: int
    domain: str
    secure: bool
    is_default: bool
    cname_status: str
    cname_reason: str | None
    compliance_status: str
    ssl_status: str
    created_at: int
    updated_at: int
    #: Seconds since the epoch, with a fraction: it doubles as the re-check's claim token.
    checked_at: float | None

    @property
    def verified(self) -> bool:
        return self.cname_status == "valid"

    @property
    def served(self) -> bool:
        """Tracking paths are served, and certificates issued, for it (:data:`SERVED_SQL`)."""
        return self.verified and self.compliance_status != "blocked"

    def require_served(self) -> None:
        """Raise why the domain cannot be used for links, a default or a certificate."""
        if not self.verified:
            raise Unverified(self.domain)
        if self.compliance_status == "blocked":
            raise Blocked(self.domain)

    @property
    def port(self) -> int:
        """SparkPost's table: secure domains are on 443, others on 80 (not configurable)."""
        return 443 if self.secure else 80

    @classmethod
    def from_row(cls, row: tuple) -> TrackingDomain:
        return cls(row[0], row[1], row[2], bool(row[3]), bool(row[4]), *row[5:9], *row[9:12])


def _now() -> int:
    return int(time.time())


class DomainService:
    def __init__(
        self,
        db: AdminDatabase,
        rules: DomainRules,
        cname: CnameChecker,
        reach: ReachChecker,
        provisioner: CertificateProvisioner | None,
        *,
        cname_target: str,
    ) -> None:
        self.db = db
        self.rules = rules
        self.cname = cname
        self.reach = reach
        self.provisioner = provisioner
        self.cname_target = cname_target

    # -- reading ----------------------------------------------------------------------------

    async def list(self, account: Account) -> list[TrackingDomain]:
        rows = await self.db.fetchall(
            f"SELECT {COLUMNS} FROM tracking_domains WHERE account_id = ? ORDER BY id",
            (account.id,),
        )
        return [TrackingDomain.from_row(r) for r in rows]

    async def get(self, account: Account, ref: DomainRef) -> TrackingDomain:
        async with self.db.transaction() as conn:
            return await load_in_account(conn, account, ref)

    # -- writing ----------------------------------------------------------------------------

    async def create(
        self, account: Account, name: object, *, secure: bool = False, default: bool = False
    ) -> TrackingDomain:
        domain = self.rules.parse(name)
        async with self.db.transaction() as conn:
            await _refuse_taken(conn, domain)
            if default:
                # A new domain is never verified yet (the seed's 422 on create).
                raise Unverified(domain)
            cur = await conn.execute(
                "INSERT INTO tracking_domains (account_id, domain, secure) VALUES (?, ?, ?)",
                (account.id, domain, int(secure)),
            )
            return await load_in_account(conn, account, cur.lastrowid)

    async def update(
        self,
        account: Account,
        ref: DomainRef,
        *,
        secure: bool | None = None,
        default: bool | None = None,
    ) -> TrackingDomain:
        async with self.db.transaction() as conn:
            found = await load_in_account(conn, account, ref)
            if default:
                found.require_served()
                await conn.execute(
                    "UPDATE tracking_domains SET is_default = 0, updated_at = ? "
                    "WHERE account_id = ? AND is_default = 1 AND id <> ?",
                    (_now(), account.id, found.id),
                )
            sets, args = [], []
            if secure is not None:
                sets.append("secure = ?")
                args.append(int(secure))
            if default is not None:
                sets.append("is_default = ?")
                args.append(int(default))
            if sets:
                await conn.execute(
                    f"UPDATE tracking_domains SET {', '.join(sets)}, updated_at = ? WHERE id = ?",
                    (*args, _now(), found.id),
                )
            return await load_in_account(conn, account, found.id)

    async def rename(self, account: Account, ref: DomainRef, name: object) -> TrackingDomain:
        """A new name must be verified again and gets a new certificate."""
        domain = self.rules.parse(name)
        async with self.db.transaction() as conn:
            found = await load_in_account(conn, account, ref)
            if domain == found.domain:
                return found
            await _refuse_taken(conn, domain)
            await conn.execute(
                "UPDATE tracking_domains SET domain = ?, cname_status = 'unverified', "
                "cname_reason = NULL, checked_at = NULL, is_default = 0, "
                "ssl_status = 'unavailable', updated_at = ?, compliance_status = "
                "CASE compliance_status WHEN 'blocked' THEN 'blocked' ELSE 'pending' END "
                "WHERE id = ?",
                (domain, _now(), found.id),
            )
            renamed = await load_in_account(conn, account, found.id)
        if self.provisioner is not None:
            await self.provisioner.forget(found.id, found.domain)
        return renamed

    async def delete(self, account: Account, ref: DomainRef) -> None:
        async with self.db.transaction() as conn:
            found = await load_in_account(conn, account, ref)
            users = await fetch_all(
                conn,
                "SELECT domain FROM sending_domains WHERE tracking_domain_id = ? ORDER BY domain",
                (found.id,),
            )
            if users:
                raise DomainInUse(found.domain, [u[0] for u in users])
            await conn.execute("DELETE FROM tracking_domains WHERE id = ?", (found.id,))
        if self.provisioner is not None:
            await self.provisioner.forget(found.id, found.domain)

    # -- verification -----------------------------------------------------------------------

    async def verify(self, account: Account, ref: DomainRef) -> TrackingDomain:
        """Check the CNAME, then that the name reaches this edge; raise :class:`Unreachable`
        when only the second fails. On success the certificate is requested."""
        async with self.db.transaction() as conn:
            found = await load_in_account(conn, account, ref)
            if not found.verified:
                await conn.execute(
                    "UPDATE tracking_domains SET cname_status = 'pending', updated_at = ? "
                    "WHERE id = ?",
                    (_now(), found.id),
                )
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
        async with self.db.transaction() as conn:
            current = await fetch_one(
                conn,
                f"SELECT {COLUMNS} FROM tracking_domains WHERE id = ? AND domain = ?",
                (found.id, found.domain),
            )
            if current is None:
                return None
            if valid:
                await conn.execute(
                    "UPDATE tracking_domains SET cname_status = 'valid', cname_reason = ?, "
                    "checked_at = ?, updated_at = ?, compliance_status = CASE "
                    "compliance_status WHEN 'pending' THEN 'valid' ELSE compliance_status END "
                    "WHERE id = ?",
                    (reason, checked, now, found.id),
                )
            elif temporary and TrackingDomain.from_row(current).verified:
                await conn.execute(
                    "UPDATE tracking_domains SET cname_reason = ?, checked_at = ? WHERE id = ?",
                    (reason, checked, found.id),
                )
            else:
                await conn.execute(
                    "UPDATE tracking_domains SET cname_status = 'invalid', cname_reason = ?, "
                    "is_default = 0, checked_at = ?, updated_at = ? WHERE id = ?",
                    (reason, checked, now, found.id),
                )
            row = await fetch_one(
                conn, f"SELECT {COLUMNS} FROM tracking_domains WHERE id = ?", (found.id,)
            )
        return TrackingDomain.from_row(row)

    async def recheck_due(self, interval: float) -> int:
        """Re-check the CNAME of every verified domain not checked for ``interval`` seconds.

        Each domain is claimed by moving its ``checked_at`` first, so several workers running
        this loop check each domain once. Returns how many were checked.
        """
        now = time.time()
        rows = await self.db.fetchall(
            f"SELECT {COLUMNS} FROM tracking_domains WHERE cname_status = 'valid' "
            "AND (checked_at IS NULL OR checked_at <= ?) ORDER BY checked_at",
            (now - interval,),
        )
        checked = 0
        for row in rows:
            found = TrackingDomain.from_row(row)
            async with self.db.transaction() as conn:
                cur = await conn.execute(
                    "UPDATE tracking_domains SET checked_at = ? WHERE id = ? AND checked_at IS ?",
                    (now, found.id, found.checked_at),
                )
                claimed = cur.rowcount == 1
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
        found = await self.get(account, ref)
        if self.provisioner is None:
            return found, SslInfo(found.ssl_status)
        return found, await self.provisioner.status(found.id)

    async def provision_ssl(self, account: Account, ref: DomainRef) -> TrackingDomain:
        """Re-issue the certificate now (the manual ``POST .../ssl``); verified domains only."""
        found = await self.get(account, ref)
        found.require_served()
        if self.provisioner is None:
            raise NotConfigured("Certificate provisioning is not configured on this server.")
        await self.provisioner.provision(found.id, force=True)
        return await self.get(account, found.id)


async def set_compliance(db: AdminDatabase, domain: str, *, blocked: bool) -> str:
    """The operator's switch: block (not served, not default) or unblock ``domain``.

    Unblocking restores ``valid`` for a verified domain, ``pending`` otherwise.
    """
    async with db.transaction() as conn:
        row = await fetch_one(conn, "SELECT id FROM tracking_domains WHERE domain = ?", (domain,))
        if row is None:
            raise DomainNotFound(domain)
        if blocked:
            sql = "compliance_status = 'blocked', is_default = 0"
        else:
            sql = (
                "compliance_status = CASE cname_status WHEN 'valid' THEN 'valid' ELSE 'pending' END"
            )
        await conn.execute(
            f"UPDATE tracking_domains SET {sql}, updated_at = ? WHERE id = ?", (_now(), row[0])
        )
        status = await fetch_one(
            conn, "SELECT compliance_status FROM tracking_domains WHERE id = ?", (row[0],)
        )
    return status[0]


async def load_in_account(conn, account: Account, ref: DomainRef) -> TrackingDomain:
    if isinstance(ref, int):
        row = await fetch_one(
            conn,
            f"SELECT {COLUMNS} FROM tracking_domains WHERE id = ? AND account_id = ?",
            (ref, account.id),
        )
    else:
        name = normalise_host(ref)
        row = None
        if name:
            row = await fetch_one(
                conn,
                f"SELECT {COLUMNS} FROM tracking_domains WHERE domain = ? AND account_id = ?",
                (name, account.id),
            )
    if row is None:
        raise NotFound(ref)
    return TrackingDomain.from_row(row)


async def _refuse_taken(conn, domain: str) -> None:
    # Checked inside the write transaction, which BEGIN IMMEDIATE serialises with every
    # other writer, in this process or another: nobody can claim the name in between.
    row = await fetch_one(conn, "SELECT 1 FROM tracking_domains WHERE domain = ?", (domain,))
    if row is not None:
        raise Conflict("The tracking domain already exists.")
