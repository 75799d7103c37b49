"""Webhooks: endpoints an account registers, and the worker that delivers events to them.

Delivery is at least once. The roll-up pass (:mod:`edge.events.rollup`) enqueues each stored event
for each matching endpoint in the database, in the transaction that counts it, so the queue
survives restarts. :class:`WebhookDelivery` leases a batch of an endpoint's queue (so that
several workers never send the same rows at once), POSTs it as JSON, and deletes the rows
only after a 2xx answer. A worker that dies mid-delivery leaves a lease that runs out; the
rows are then sent again, with the same event ids, which receivers use to drop duplicates.

A failed delivery (connection error, timeout, non-2xx) backs the *endpoint* off
exponentially (``backoff_base`` doubling up to ``backoff_max``), so a receiver that is down
gets one attempt per step rather than one per event. Events still undelivered
``max_age`` seconds after they were enqueued (24 hours by default) are dropped and counted in
the endpoint's ``expired``.

Signature: every request carries ``X-Webhook-Timestamp`` (Unix seconds) and
``X-Webhook-Signature: sha256=<hex>``, the HMAC-SHA256 of ``"<timestamp>.<body>"`` under the
endpoint's secret (the Stripe scheme: the timestamp inside the MAC lets receivers refuse
replays older than a few minutes). :func:`verify_signature` is the receiver's side.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import ipaddress
import json
import logging
import random
import secrets
import time
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import httpx

from admin.domains.reachability import AddressPolicy
from edge.db.store import Store
from edge.model.events import EVENT_TYPES, StoredEvent
from edge.model.webhooks import DueEndpoint, Endpoint
from edge.periodic import Periodic

log = logging.getLogger("admin.webhooks")

SIGNATURE_HEADER = "X-Webhook-Signature"
TIMESTAMP_HEADER = "X-Webhook-Timestamp"


class WebhookError(ValueError):
    """An endpoint definition that cannot be used; ``field`` names the culprit."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.field = field


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The ``X-Webhook-Signature`` value for ``body`` sent at ``timestamp``."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"sha256={mac.hexdigest()}"


def verify_signature(
    secret: str, timestamp: str, signature: str, body: bytes, *, tolerance: int = 300
) -> bool:
    """Receiver side: the signature matches and the timestamp is within ``tolerance`` s."""
    try:
        ts = int(timestamp)
    except ValueError:
        return False
    if abs(time.time() - ts) > tolerance:
        return False
    return hmac.compare_digest(sign(secret, ts, body), signature)


def endpoint_json(endpoint: Endpoint) -> dict:
    """An endpoint as the API shows it (never its secret)."""
    return {
        "id": endpoint.id,
        "url": endpoint.url,
        "event_types": list(endpoint.event_types),
        "active": endpoint.active,
        "created_at": endpoint.created_at,
        "status": {
            "backlog": endpoint.backlog,
            "delivered": endpoint.delivered,
            "expired": endpoint.expired,
            "consecutive_failures": endpoint.failures,
            "next_attempt_ms": endpoint.retry_at_ms or None,
            "last_success_ms": endpoint.last_success_ms,
            "last_error_ms": endpoint.last_error_ms,
            "last_error": endpoint.last_error,
        },
    }


def check_url(url: object) -> str:
    if not isinstance(url, str) or not url.strip():
        raise WebhookError("url is required", "url")
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise WebhookError("url must be an absolute http or https URL", "url")
    return url.strip()


def check_types(types: object) -> tuple[str, ...]:
    if types is None:
        return EVENT_TYPES
    if not isinstance(types, list) or not types or not all(isinstance(t, str) for t in types):
        raise WebhookError("event_types must be a non-empty list of event types", "event_types")
    unknown = sorted(set(types) - set(EVENT_TYPES))
    if unknown:
        raise WebhookError(f"unknown event types: {', '.join(unknown)}", "event_types")
    return tuple(t for t in EVENT_TYPES if t in types)


class WebhookEndpoints:
    """Endpoints of an account (every call scoped to the account)."""

    def __init__(self, store: Store) -> None:
        self.store = store

    async def create(
        self, account_id: int, url: object, event_types: object = None
    ) -> tuple[Endpoint, str]:
        """A new endpoint and its secret: the only time the secret is shown."""
        url = check_url(url)
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
        checked_url = check_url(url) if url is not None else None
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


def event_json(event: StoredEvent) -> dict:
    """One stored event as webhooks and the events API render it."""
    ts_ms = event.ts_ms
    return {
        "id": event.id,
        "type": event.type,
        "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts_ms / 1000))
        + f".{ts_ms % 1000:03d}Z",
        "ts_ms": ts_ms,
        "domain": event.domain,
        "message": event.message,
        "recipient": event.recipient,
        "link": event.link,
        "url": event.url,
        "client_ip": event.client_ip,
        "user_agent": event.user_agent,
        "method": event.method,
        "prefetch": bool(event.prefetch),
        "verdict": event.verdict,
        "rule": event.rule,
    }


class WebhookDelivery:
    """Delivers queued events, batch by batch, endpoint by endpoint (one per worker)."""

    #: Most events in one request.
    batch_size = 100
    #: Seconds a request may take; a lease lasts ``lease_factor`` times that.
    timeout = 10.0
    lease_factor = 3
    #: Backoff after the n-th consecutive failure: base * 2**(n-1), at most max (seconds),
    #: with +-20% jitter so that endpoints failing together do not retry together.
    backoff_base = 5.0
    backoff_max = 3600.0
    #: Seconds after enqueueing when an undelivered event is dropped (issue 6: 24 hours).
    max_age = 86400.0
    #: Seconds between looks at the queue when it is idle.
    poll_interval = 0.5
    #: Endpoints delivered to at once.
    concurrency = 8

    def __init__(
        self, store: Store, *, policy: AddressPolicy | None = None, **overrides: float
    ) -> None:
        #: Which addresses endpoints may resolve to: public ones plus the allowed networks
        #: (``EDGE_VERIFY_ALLOW_NETWORKS``), the same SSRF guard as the reachability check.
        self.policy = policy or AddressPolicy()
        for name, value in overrides.items():
            if not hasattr(type(self), name):
                raise TypeError(f"unknown setting {name!r}")
            setattr(self, name, value)
        self.store = store
        self._client: httpx.AsyncClient | None = None
        self._expired_at = 0

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[WebhookDelivery]:
        """Deliver what is due every ``poll_interval`` seconds while entered."""
        async with httpx.AsyncClient(timeout=self.timeout, follow_redirects=False) as client:
            self._client = client
            try:
                async with Periodic(
                    "webhook-delivery", self.deliver_backlog, interval=self.poll_interval
                ):
                    yield self
            finally:
                self._client = None

    def backoff(self, failures: int) -> float:
        delay = min(self.backoff_base * 2 ** max(failures - 1, 0), self.backoff_max)
        return delay * random.uniform(0.8, 1.2)

    async def deliver_backlog(self) -> None:
        """Rounds until nothing is due: a backlog goes batch after batch, not one batch per
        poll."""
        while await self.deliver_due():
            pass

    async def deliver_due(self) -> int:
        """One round: a batch for each endpoint that is due; returns events delivered."""
        now = _now_ms()
        # Expiry scans the queue: at most every minute (sooner for a shorter maximum age).
        if now - self._expired_at >= min(60.0, self.max_age / 2) * 1000:
            self._expired_at = now
            await self._expire(now)
        async with self.store.reading() as db:
            due = await db.webhooks.due(now)
        if not due:
            return 0
        gate = asyncio.Semaphore(self.concurrency)

        async def one(endpoint: DueEndpoint) -> int:
            async with gate:
                return await self._deliver(endpoint.id, endpoint.url, endpoint.secret)

        return sum(await asyncio.gather(*(one(e) for e in due)))

    async def _expire(self, now: int) -> None:
        async with self.store.transaction() as tx:
            expired = await tx.webhooks.expire(now - int(self.max_age * 1000), now)
        for endpoint_id, n in expired:
            log.warning("webhook endpoint %s: %d events expired undelivered", endpoint_id, n)

    async def _lease(self, endpoint_id: int) -> list[StoredEvent]:
        """Lease up to ``batch_size`` rows of the endpoint's queue; returns their events."""
        now = _now_ms()
        until = now + int(self.timeout * self.lease_factor * 1000)
        async with self.store.transaction() as tx:
            ids = await tx.webhooks.lease(
                endpoint_id, until_ms=until, now_ms=now, limit=self.batch_size
            )
        if not ids:
            return []
        async with self.store.reading() as db:
            events = await db.webhooks.events(ids)
        found = {e.id for e in events}
        gone = [i for i in ids if i not in found]
        if gone:  # pruned before delivery (retention shorter than the backlog): nothing to send
            async with self.store.transaction() as tx:
                await tx.webhooks.drop(endpoint_id, gone)
        return events

    async def _deliver(self, endpoint_id: int, url: str, secret: str) -> int:
        events = await self._lease(endpoint_id)
        if not events:
            return 0
        ids = [e.id for e in events]
        body = json.dumps(
            {"endpoint_id": endpoint_id, "events": [event_json(e) for e in events]},
            separators=(",", ":"),
        ).encode()
        timestamp = int(time.time())
        headers = {
            "content-type": "application/json",
            "user-agent": "tracking-edge-webhooks/1",
            TIMESTAMP_HEADER: str(timestamp),
            SIGNATURE_HEADER: sign(secret, timestamp, body),
        }
        assert self._client is not None
        try:
            error = await self.refusal(url)
            if error is None:
                response = await self._client.post(url, content=body, headers=headers)
                if not 200 <= response.status_code < 300:
                    error = f"HTTP {response.status_code}"
        except (httpx.HTTPError, OSError) as exc:
            error = f"{type(exc).__name__}: {exc}"[:500]
        except asyncio.CancelledError:
            # Stopping: give the rows back at once rather than when the lease runs out.
            with contextlib.suppress(Exception):
                await asyncio.shield(self._release(endpoint_id, ids))
            raise
        now = _now_ms()
        if error is None:
            async with self.store.transaction() as tx:
                await tx.webhooks.delivered(endpoint_id, ids, now_ms=now)
            return len(ids)
        log.info("webhook endpoint %s failed: %s", endpoint_id, error)
        async with self.store.transaction() as tx:
            await tx.webhooks.release(endpoint_id, ids)
            failures = await tx.webhooks.failures(endpoint_id) + 1
            await tx.webhooks.failed(
                endpoint_id,
                failures=failures,
                retry_at_ms=now + int(self.backoff(failures) * 1000),
                now_ms=now,
                error=error,
            )
        return 0

    async def refusal(self, url: str) -> str | None:
        """Why ``url`` must not be posted to (an address the policy refuses), or ``None``.

        The name is resolved here and each address judged; a name that resolves differently
        a moment later (DNS rebinding) is not caught, the same limit as any check-then-connect.
        """
        parts = urlsplit(url)
        host = parts.hostname or ""
        try:
            addresses = [str(ipaddress.ip_address(host))]
        except ValueError:
            infos = await asyncio.get_running_loop().getaddrinfo(
                host, parts.port or (443 if parts.scheme == "https" else 80)
            )
            addresses = sorted({info[4][0] for info in infos})
        for address in addresses:
            reason = self.policy.refusal(address)
            if reason is not None:
                return reason
        return None

    async def _release(self, endpoint_id: int, ids: list[str]) -> None:
        async with self.store.transaction() as tx:
            await tx.webhooks.release(endpoint_id, ids)


def _now_ms() -> int:
    return int(time.time() * 1000)
