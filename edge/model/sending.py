"""Sending domains: the domains an account sends mail from, each using a tracking domain."""

from __future__ import annotations

from dataclasses import dataclass


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
