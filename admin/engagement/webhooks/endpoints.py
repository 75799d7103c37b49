"""The webhook endpoints an account registers, checked when they are registered."""

from __future__ import annotations

import secrets
import time
from urllib.parse import urlsplit

from admin.outbound.client import Outbound
from admin.outbound.policy import AddressPolicy
from admin.outbound.resolve import AddressResolver
from edge.db.store import Store
from edge.model.events import EVENT_TYPES
from edge.model.webhooks import Endpoint


class WebhookError(ValueError):
    """An endpoint definition that cannot be used; ``field`` names the culprit."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.field = field


def check_url(url: object) -> str:
    if not isinstance(url, str) or not url.strip():
        raise WebhookError("url is required", "url")
    text = url.strip()
    not_absolute = WebhookError("url must be an absolute http or https URL", "url")
    # Control characters are no part of a URL (RFC 3986 §2); urlsplit would drop some of them
    # (WHATWG's tab and newline) and keep the rest, so the URL stored is not the one read.
    if any(ch < " " or ch == "\x7f" for ch in text):
        raise not_absolute
    try:
        parts = urlsplit(text)
        host = parts.hostname
        parts.port  # noqa: B018 - raises for a port past 65535, which no socket takes
    except ValueError:  # an unclosed IPv6 bracket, a port that is no port
        raise not_absolute from None
    if parts.scheme not in ("http", "https") or not host:
        raise not_absolute
    return text


def check_types(types: object) -> tuple[str, ...]:
    if types is None:
        return EVENT_TYPES
    if not isinstance(types, list) or not types or not all(isinstance(t, str) for t in types):
        raise WebhookError("event_types must be a non-empty list of event types", "event_types")
    unknown = sorted(set(types) - set(EVENT_TYPES))
    if unknown:
        raise WebhookError(f"unknown event types: {', '.join(unknown)}", "event_types")
    return tuple(t for t in EVENT_TYPES if t in types)


def public_only() -> Outbound:
    """The default: the system resolver, public addresses only."""
    return Outbound(AddressResolver(), AddressPolicy(setting="EDGE_WEBHOOK_ALLOW_NETWORKS"))


class WebhookEndpoints:
    """Endpoints of an account (every call scoped to the account)."""

    def __init__(self, store: Store, outbound: Outbound | None = None) -> None:
        self.store = store
        #: Refuses, at once, a URL whose host is an address delivery would refuse.
        self.outbound = outbound or public_only()

    def _check_url(self, url: object) -> str:
        url = check_url(url)
        refusal = self.outbound.known_refusal(url)
        if refusal is not None:
            raise WebhookError(refusal, "url")
        return url

    async def create(
        self, account_id: int, url: object, event_types: object = None
    ) -> tuple[Endpoint, str]:
        """A new endpoint and its secret: the only time the secret is shown."""
        url = self._check_url(url)
        types = check_types(event_types)
        secret = secrets.token_hex(32)
        async with self.store.transaction() as tx:
            new_id = await tx.webhooks.insert(
                account_id, url, secret, types, now=int(time.time())
            )
            endpoint = await tx.webhooks.get(account_id, new_id)
        assert endpoint is not None
        return endpoint, secret

    async def list(self, account_id: int) -> list[Endpoint]:
        async with self.store.reading() as db:
            return await db.webhooks.in_account(account_id)

    async def get(self, account_id: int, endpoint_id: int) -> Endpoint | None:
        async with self.store.reading() as db:
            return await db.webhooks.get(account_id, endpoint_id)

    async def update(
        self,
        account_id: int,
        endpoint_id: int,
        *,
        url: object = None,
        event_types: object = None,
        active: object = None,
    ) -> Endpoint | None:
        checked_url = self._check_url(url) if url is not None else None
        types = check_types(event_types) if event_types is not None else None
        if active is not None and not isinstance(active, bool):
            raise WebhookError("active must be true or false", "active")
        async with self.store.transaction() as tx:
            await tx.webhooks.update(
                account_id, endpoint_id, url=checked_url, event_types=types, active=active
            )
            return await tx.webhooks.get(account_id, endpoint_id)

    async def delete(self, account_id: int, endpoint_id: int) -> bool:
        async with self.store.transaction() as tx:
            return await tx.webhooks.delete(account_id, endpoint_id)
