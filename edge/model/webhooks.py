"""Webhook endpoints an account registers, with their delivery status."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Endpoint:
    id: int
    account_id: int
    url: str
    event_types: tuple[str, ...]
    active: bool
    created_at: int
    failures: int
    retry_at_ms: int
    last_success_ms: int | None
    last_error_ms: int | None
    last_error: str | None
    delivered: int
    expired: int
    #: Events queued for it and not yet delivered.
    backlog: int


@dataclass(frozen=True, slots=True)
class DueEndpoint:
    """What delivery needs to post to an endpoint that has events due."""

    id: int
    url: str
    secret: str
