"""Tracking domains as every layer sees them: their states and the one rule that serves them.

State machine (``verified`` is ``cname_status == valid``)::

    unverified ──verify──▶ pending ──CNAME ok, reaches the edge──▶ valid ──▶ served
                              └──────── otherwise ─────────────▶ invalid
    valid ──re-check finds the CNAME gone, or a wrong answer──▶ invalid (no longer served)
    valid ──another account's domain of that name verifies──▶ invalid (one owner per name)
    any ──rename──▶ unverified (certificate dropped, default cleared)

A domain is *served* (tracking paths answered, certificates issued and presented) when it is
verified and not blocked: :func:`is_served`, the one statement of that rule in Python; the
data layer's ``served_tracking_domains`` view states it in SQL, and a test holds the two equal.
A domain that is not served keeps its certificate (unblocking or verifying it again presents
it at once, without a new issuance), but it is not presented, not renewed, and the SSL state
reported for it is ``unavailable`` with the reason (:attr:`TrackingDomain.ssl_withheld`).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class CnameStatus(StrEnum):
    """Where verification of the name stands (SparkPost's ``cname_status``)."""

    UNVERIFIED = "unverified"
    PENDING = "pending"
    INVALID = "invalid"
    VALID = "valid"


class ComplianceStatus(StrEnum):
    """The operator's judgement: ``blocked`` is never served, over HTTP or TLS."""

    PENDING = "pending"
    VALID = "valid"
    BLOCKED = "blocked"


class SslStatus(StrEnum):
    """The certificate's lifecycle; ``active`` only after a real HTTPS request succeeded."""

    UNAVAILABLE = "unavailable"
    PROVISIONING = "provisioning"
    ACTIVE = "active"
    FAILED = "failed"


#: ``reason`` of the SSL state of a domain that is not served: why no certificate is presented.
SSL_BLOCKED = "The tracking domain is blocked: no certificate is presented while it is."
SSL_UNVERIFIED = "The tracking domain is not verified: no certificate is presented until it is."


def is_served(cname_status: str, compliance_status: str) -> bool:
    """Tracking paths are served, and certificates issued, only for verified, unblocked domains."""
    return cname_status == CnameStatus.VALID and compliance_status != ComplianceStatus.BLOCKED


@dataclass(frozen=True, slots=True)
class TrackingDomain:
    """A customer's tracking domain, as stored."""

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
        return self.cname_status == CnameStatus.VALID

    @property
    def blocked(self) -> bool:
        return self.compliance_status == ComplianceStatus.BLOCKED

    @property
    def served(self) -> bool:
        """See :func:`is_served`."""
        return is_served(self.cname_status, self.compliance_status)

    @property
    def ssl_withheld(self) -> str | None:
        """Why no certificate is presented for this domain; ``None`` while it is served."""
        if self.blocked:
            return SSL_BLOCKED
        if not self.verified:
            return SSL_UNVERIFIED
        return None

    @property
    def reported_ssl_status(self) -> str:
        """``ssl_status`` as clients are told it: ``unavailable`` while not served, whatever
        the stored certificate's state (kept for when the domain is served again)."""
        return SslStatus.UNAVAILABLE if self.ssl_withheld else self.ssl_status

    @property
    def port(self) -> int:
        """SparkPost's table: secure domains are on 443, others on 80 (not configurable)."""
        return 443 if self.secure else 80


@dataclass(frozen=True, slots=True)
class TrackingHost:
    """A host the edge knows, as the hot path needs it."""

    domain: str
    #: The owning account; ``None`` for the default domain, which serves every account.
    account_id: int | None
    secure: bool
    #: False for a known domain that is not (or no longer) verified, or is blocked.
    served: bool
    id: int | None = None

    def accepts(self, account_id: int) -> bool:
        """A customer domain serves its own account's tokens only."""
        return self.account_id is None or self.account_id == account_id
