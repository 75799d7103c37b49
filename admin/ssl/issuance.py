"""What the provisioner needs from a certificate authority, whichever it is.

Exceptions::

    IssuanceError          the CA refused or could not be reached; ``reason`` is its account
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


class IssuanceError(Exception):
    """Issuing failed; ``reason`` is what ``GET .../ssl`` shows (the CA's own words)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class IssuedCertificate:
    chain_pem: str  # leaf first, then intermediates
    key_pem: str


class CertificateIssuer(Protocol):
    #: Shown in logs and reports: "local CA", or the ACME directory URL.
    name: str

    async def issue(self, domain: str) -> IssuedCertificate:
        """Obtain a certificate for ``domain``; raise :class:`IssuanceError` on failure."""
