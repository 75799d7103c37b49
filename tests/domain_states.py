"""Tracking domains in a given state, reached through the repositories' own transitions.

::

    domain_id = in_store(settings, lambda tx: add_domain(tx, 1, "t.brand.com", cname="pending"))

Each state is reached the way the service reaches it (insert, verification, block), never by
writing the status columns: a test cannot set up a state the edge could never be in.
"""

from __future__ import annotations

import time

from edge.db.repositories import Repositories
from edge.model.domains import CnameStatus, ComplianceStatus


async def add_domain(
    tx: Repositories,
    account_id: int,
    name: str,
    *,
    cname: str = CnameStatus.VALID,
    compliance: str | None = None,
    secure: bool = False,
    default: bool = False,
    reason: str = "",
) -> int:
    """Add ``name`` to the account in the given state; return its id.

    ``compliance`` is ``valid`` for a verified domain and ``pending`` for one never verified
    unless told. ``(valid, pending)`` and ``(unverified, valid)`` cannot be reached (verifying
    a pending domain makes it valid; only a rename unverifies, and it resets compliance).
    """
    now, checked = int(time.time()), time.time()
    if compliance is None:
        compliance = (
            ComplianceStatus.VALID if cname == CnameStatus.VALID else ComplianceStatus.PENDING
        )
    verify_first = cname == CnameStatus.VALID or compliance == ComplianceStatus.VALID
    if (cname, compliance) in {
        (CnameStatus.VALID, ComplianceStatus.PENDING),
        (CnameStatus.UNVERIFIED, ComplianceStatus.VALID),
    }:
        raise ValueError(f"no transition leads to cname {cname}, compliance {compliance}")
    domain_id = await tx.domains.insert(account_id, name, secure=secure, now=now)
    if verify_first:
        await tx.domains.mark_valid(domain_id, reason, checked=checked, now=now)
    if compliance == ComplianceStatus.BLOCKED:
        await tx.domains.set_compliance(domain_id, blocked=True, now=now)
    if cname == CnameStatus.PENDING:
        await tx.domains.mark_pending(domain_id, now=now)
    elif cname == CnameStatus.INVALID:
        await tx.domains.mark_invalid(domain_id, reason, checked=checked, now=now)
    if default:
        await tx.domains.set_flags(domain_id, secure=None, default=True, now=now)
    return domain_id
