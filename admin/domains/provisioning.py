"""The seam between domain verification and certificate issuance.

The domain service calls a :class:`CertificateProvisioner` when a domain is verified (start
issuing), renamed or deleted (drop its certificate), and for ``GET``/``POST .../{id}/ssl``.
The SSL implementation (ACME, or the local CA in development) lives in its own modules.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Protocol

from edge.model.domains import SslStatus, TrackingDomain


@dataclass(frozen=True)
class SslInfo:
    """What ``GET /api/v1/customer/tracking-domains/{id}/ssl`` reports."""

    status: str
    issuer: str | None = None
    not_before: datetime | None = None
    not_after: datetime | None = None
    renew_at: datetime | None = None
    #: Why the last attempt failed (the CA's words), when ``status`` is ``failed``; why no
    #: certificate is presented, when the domain is not served (``status`` ``unavailable``).
    reason: str | None = None

    def as_reported(self, domain: TrackingDomain) -> SslInfo:
        """This state as clients are told it: while ``domain`` is not served (blocked, or no
        longer verified) its kept certificate is not presented nor renewed, so the status is
        ``unavailable`` with the reason; the certificate's dates still describe it."""
        withheld = domain.ssl_withheld
        if withheld is None:
            return self
        return replace(self, status=SslStatus.UNAVAILABLE, renew_at=None, reason=withheld)


class CertificateProvisioner(Protocol):
    async def provision(self, domain_id: int, *, force: bool = False) -> None:
        """Start issuing a certificate for a verified domain in the background; return at once.

        Sets ``ssl_status`` to ``provisioning`` before returning. ``force`` re-issues even
        when a valid certificate exists (the manual ``POST .../ssl``).
        """

    async def forget(self, domain_id: int, name: str) -> None:
        """Drop the certificate of ``name``, the domain's name before it was renamed or deleted,
        and stop any issuance still running for it; ``ssl_status`` → unavailable."""

    async def status(self, domain_id: int) -> SslInfo: ...
