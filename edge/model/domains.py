"""Tracking domains as every layer sees them: their states and the rule that serves them."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class DomainRecord:
    """A tracking domain as the edge's in-memory table needs it."""

    id: int
    domain: str
    account_id: int
    secure: bool
    cname_status: str
    compliance_status: str

    @property
    def served(self) -> bool:
        """Tracking paths are served only on verified, unblocked domains."""
        return self.cname_status == "valid" and self.compliance_status != "blocked"
