"""Webhooks: endpoints an account registers, and the worker that delivers events to them.

Delivery is at least once. The roll-up pass (:mod:`edge.rollup`) enqueues each stored event
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

Where requests go: through :mod:`admin.outbound`, like every request to an address a customer
chooses. The endpoint's host is resolved once per request through the configured resolvers
and the POST goes to an address that was checked: a public one, or one in
``EDGE_WEBHOOK_ALLOW_NETWORKS`` (none by default, so not this host's loopback nor its private
network). A refused address is never connected to, so ``last_error`` says it was refused and
nothing about whether anything listens there. A URL whose host is an address (or
``localhost``) the policy refuses is refused when it is registered, with a 422.

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
import json
import logging
import random
import secrets
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import aiosqlite
import httpx

from admin.outbound.client import Outbound, error_text
from admin.outbound.policy import AddressPolicy
from admin.outbound.resolve import AddressResolver, DNSLookupError
from edge.db.admin import AdminDatabase, fetch_one
from edge.model.events import EVENT_TYPES

log = logging.getLogger("admin.webhooks")

SIGNATURE_HEADER = "X-Webhook-Signature"
TIMESTAMP_HEADER = "X-Webhook-Timestamp"
EVENT_FIELDS = (
    "id, type, ts_ms, domain, message, recipient, link, url, client_ip, user_agent, method, "
    "prefetch, verdict, rule"
)


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
    backlog: int

    def to_json(self) -> dict:
        return {
            "id": self.id,
            "url": self.url,
            "event_types": list(self.event_types),
            "active": self.active,
            "created_at": self.created_at,
            "status": {
                "backlog": self.backlog,
                "delivered": self.delivered,
                "expired": self.expired,
                "consecutive_failures": self.failures,
                "next_attempt_ms": self.retry_at_ms or None,
                "last_success_ms": self.last_success_ms,
                "last_error_ms": self.last_error_ms,
                "last_error": self.last_error,
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


_SELECT = (
    "SELECT w.id, w.account_id, w.url, w.event_types, w.active, w.created_at, w.failures, "
    "w.retry_at_ms, w.last_success_ms, w.last_error_ms, w.last_error, w.delivered, "
    "w.expired, (SELECT count(*) FROM webhook_queue q WHERE q.endpoint_id = w.id) "
    "FROM webhook_endpoints w"
)


def _endpoint(row: tuple) -> Endpoint:
    return Endpoint(
        row[0],
        row[1],
        row[2],
        tuple(row[3].strip(",").split(",")),
        bool(row[4]),
        *row[5:],
    )


class WebhookEndpoints:
    """Endpoints of an account, in the admin database (every call scoped to the account)."""

    def __init__(self, db: AdminDatabase, outbound: Outbound | None = None) -> None:
        self.db = db
        #: Refuses, at once, a URL whose host is an address delivery would refuse.
        self.outbound = outbound or _public_only()

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
        async with self.db.transaction() as conn:
            cur = await conn.execute(
                "INSERT INTO webhook_endpoints (account_id, url, secret, event_types) "
                "VALUES (?, ?, ?, ?)",
                (account_id, url, secret, f",{','.join(types)},"),
            )
            row = await fetch_one(conn, f"{_SELECT} WHERE w.id = ?", (cur.lastrowid,))
        return _endpoint(row), secret

    async def list(self, account_id: int) -> list[Endpoint]:
        rows = await self.db.fetchall(
            f"{_SELECT} WHERE w.account_id = ? ORDER BY w.id", (account_id,)
        )
        return [_endpoint(r) for r in rows]

    async def get(self, account_id: int, endpoint_id: int) -> Endpoint | None:
        row = await self.db.fetchone(
            f"{_SELECT} WHERE w.id = ? AND w.account_id = ?", (endpoint_id, account_id)
        )
        return _endpoint(row) if row else None

    async def update(
        self,
        account_id: int,
        endpoint_id: int,
        *,
        url: object = None,
        event_types: object = None,
        active: object = None,
    ) -> Endpoint | None:
        changes: list[tuple[str, object]] = []
        if url is not None:
            changes.append(("url", self._check_url(url)))
        if event_types is not None:
            changes.append(("event_types", f",{','.join(check_types(event_types))},"))
        if active is not None:
            if not isinstance(active, bool):
                raise WebhookError("active must be true or false", "active")
            changes.append(("active", int(active)))
        if changes:
            async with self.db.transaction() as conn:
                await conn.execute(
                    f"UPDATE webhook_endpoints SET {', '.join(f'{c} = ?' for c, _ in changes)} "
                    "WHERE id = ? AND account_id = ?",
                    (*(v for _, v in changes), endpoint_id, account_id),
                )
        return await self.get(account_id, endpoint_id)

    async def delete(self, account_id: int, endpoint_id: int) -> bool:
        async with self.db.transaction() as conn:
            await conn.execute(
                "DELETE FROM webhook_queue WHERE endpoint_id = ? AND endpoint_id IN "
                "(SELECT id FROM webhook_endpoints WHERE account_id = ?)",
                (endpoint_id, account_id),
            )
            cur = await conn.execute(
                "DELETE FROM webhook_endpoints WHERE id = ? AND account_id = ?",
                (endpoint_id, account_id),
            )
            return cur.rowcount > 0


def event_json(row: tuple) -> dict:
    """One stored event as webhooks and the events API render it."""
    (
        event_id,
        type_,
        ts_ms,
        domain,
        message,
        recipient,
        link,
        url,
        ip,
        ua,
        method,
        prefetch,
        verdict,
        rule,
    ) = row
    return {
        "id": event_id,
        "type": type_,
        "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts_ms / 1000))
        + f".{ts_ms % 1000:03d}Z",
        "ts_ms": ts_ms,
        "domain": domain,
        "message": message,
        "recipient": recipient,
        "link": link,
        "url": url,
        "client_ip": ip,
        "user_agent": ua,
        "method": method,
        "prefetch": bool(prefetch),
        "verdict": verdict,
        "rule": rule,
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

    #: Most addresses of one endpoint tried, the next only when connecting failed.
    max_addresses = 4

    def __init__(self, path: Path, *, outbound: Outbound | None = None, **overrides: float) -> None:
        #: Resolution and the address policy (``EDGE_WEBHOOK_ALLOW_NETWORKS``): see above.
        self.outbound = outbound or _public_only()
        for name, value in overrides.items():
            if not hasattr(type(self), name):
                raise TypeError(f"unknown setting {name!r}")
            setattr(self, name, value)
        self.path = Path(path)
        self._conn: aiosqlite.Connection | None = None
        self._lock = asyncio.Lock()
        self._task: asyncio.Task | None = None
        self._client: httpx.AsyncClient | None = None
        self._expired_at = 0

    async def start(self) -> None:
        self._conn = await aiosqlite.connect(self.path, timeout=5.0, isolation_level=None)
        await self._conn.execute("PRAGMA synchronous=NORMAL")
        self._client = self.outbound.client(timeout=self.timeout)
        self._task = asyncio.create_task(self._run(), name="webhook-delivery")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._client is not None:
            await self._client.aclose()
            self._client = None
        if self._conn is not None:
            await self._conn.close()
            self._conn = None

    def backoff(self, failures: int) -> float:
        delay = min(self.backoff_base * 2 ** max(failures - 1, 0), self.backoff_max)
        return delay * random.uniform(0.8, 1.2)

    async def _run(self) -> None:
        while True:
            try:
                sent = await self.deliver_due()
            except sqlite3.Error as exc:
                log.warning("webhook delivery postponed: %s", exc)
                sent = 0
            if not sent:
                await asyncio.sleep(self.poll_interval)

    async def _write(self, sql: str, args: tuple | list = ()) -> aiosqlite.Cursor:
        assert self._conn is not None
        async with self._lock:
            return await self._conn.execute(sql, args)

    async def deliver_due(self) -> int:
        """One round: a batch for each endpoint that is due; returns events delivered."""
        assert self._conn is not None
        now = _now_ms()
        # Expiry scans the queue: at most every minute (sooner for a shorter maximum age).
        if now - self._expired_at >= min(60.0, self.max_age / 2) * 1000:
            self._expired_at = now
            await self._expire(now)
        # EXISTS stops at the first row due: a long backlog is not scanned every round.
        async with (
            self._lock,
            self._conn.execute(
                "SELECT w.id, w.url, w.secret FROM webhook_endpoints w "
                "WHERE w.active = 1 AND w.retry_at_ms <= ? AND EXISTS (SELECT 1 FROM "
                "webhook_queue q WHERE q.endpoint_id = w.id AND q.lease_until_ms <= ?)",
                (now, now),
            ) as cur,
        ):
            due = await cur.fetchall()
        if not due:
            return 0
        gate = asyncio.Semaphore(self.concurrency)

        async def one(endpoint: tuple) -> int:
            async with gate:
                return await self._deliver(*endpoint)

        return sum(await asyncio.gather(*(one(e) for e in due)))

    async def _expire(self, now: int) -> None:
        cutoff = now - int(self.max_age * 1000)
        assert self._conn is not None
        async with self._lock:
            async with self._conn.execute(
                "SELECT endpoint_id, count(*) FROM webhook_queue WHERE enqueued_ms < ? "
                "AND lease_until_ms <= ? GROUP BY endpoint_id",
                (cutoff, now),
            ) as cur:
                expired = await cur.fetchall()
            if not expired:
                return
            await self._conn.execute("BEGIN IMMEDIATE")
            try:
                await self._conn.execute(
                    "DELETE FROM webhook_queue WHERE enqueued_ms < ? AND lease_until_ms <= ?",
                    (cutoff, now),
                )
                await self._conn.executemany(
                    "UPDATE webhook_endpoints SET expired = expired + ? WHERE id = ?",
                    [(n, endpoint_id) for endpoint_id, n in expired],
                )
                await self._conn.execute("COMMIT")
            except BaseException:
                with contextlib.suppress(sqlite3.Error):
                    await self._conn.execute("ROLLBACK")
                raise
        for endpoint_id, n in expired:
            log.warning("webhook endpoint %s: %d events expired undelivered", endpoint_id, n)

    async def _lease(self, endpoint_id: int) -> list[tuple]:
        """Lease up to ``batch_size`` rows of the endpoint's queue; returns their events."""
        assert self._conn is not None
        now = _now_ms()
        until = now + int(self.timeout * self.lease_factor * 1000)
        async with self._lock:
            await self._conn.execute("BEGIN IMMEDIATE")
            try:
                async with self._conn.execute(
                    "UPDATE webhook_queue SET lease_until_ms = ?, attempts = attempts + 1 "
                    "WHERE endpoint_id = ? AND event_id IN (SELECT event_id FROM webhook_queue "
                    "WHERE endpoint_id = ? AND lease_until_ms <= ? ORDER BY event_id LIMIT ?) "
                    "RETURNING event_id",
                    (until, endpoint_id, endpoint_id, now, self.batch_size),
                ) as cur:
                    ids = [r[0] for r in await cur.fetchall()]
                await self._conn.execute("COMMIT")
            except BaseException:
                with contextlib.suppress(sqlite3.Error):
                    await self._conn.execute("ROLLBACK")
                raise
            if not ids:
                return []
            async with self._conn.execute(
                f"SELECT {EVENT_FIELDS} FROM events WHERE id IN ({', '.join('?' * len(ids))}) "
                "ORDER BY id",
                ids,
            ) as cur:
                rows = list(await cur.fetchall())
        found = {r[0] for r in rows}
        gone = [i for i in ids if i not in found]
        if gone:  # pruned before delivery (retention shorter than the backlog): nothing to send
            await self._write(
                f"DELETE FROM webhook_queue WHERE endpoint_id = ? AND event_id IN "
                f"({', '.join('?' * len(gone))})",
                [endpoint_id, *gone],
            )
        return rows

    async def _deliver(self, endpoint_id: int, url: str, secret: str) -> int:
        rows = await self._lease(endpoint_id)
        if not rows:
            return 0
        ids = [r[0] for r in rows]
        body = json.dumps(
            {"endpoint_id": endpoint_id, "events": [event_json(r) for r in rows]},
            separators=(",", ":"),
        ).encode()
        timestamp = int(time.time())
        headers = {
            "content-type": "application/json",
            "user-agent": "tracking-edge-webhooks/1",
            TIMESTAMP_HEADER: str(timestamp),
            SIGNATURE_HEADER: sign(secret, timestamp, body),
        }
        try:
            error = await self._post(url, body, headers)
        except asyncio.CancelledError:
            # Stopping: give the rows back at once rather than when the lease runs out.
            with contextlib.suppress(Exception):
                await asyncio.shield(self._release(endpoint_id, ids))
            raise
        now = _now_ms()
        marks = ", ".join("?" * len(ids))
        if error is None:
            await self._write(
                f"DELETE FROM webhook_queue WHERE endpoint_id = ? AND event_id IN ({marks})",
                [endpoint_id, *ids],
            )
            await self._write(
                "UPDATE webhook_endpoints SET failures = 0, retry_at_ms = 0, "
                "last_success_ms = ?, delivered = delivered + ? WHERE id = ?",
                (now, len(ids), endpoint_id),
            )
            return len(ids)
        log.info("webhook endpoint %s failed: %s", endpoint_id, error)
        await self._release(endpoint_id, ids)
        async with (
            self._lock,
            self._conn.execute(  # type: ignore[union-attr]
                "SELECT failures FROM webhook_endpoints WHERE id = ?", (endpoint_id,)
            ) as cur,
        ):
            row = await cur.fetchone()
        failures = (row[0] if row else 0) + 1
        await self._write(
            "UPDATE webhook_endpoints SET failures = ?, retry_at_ms = ?, last_error_ms = ?, "
            "last_error = ? WHERE id = ?",
            (failures, now + int(self.backoff(failures) * 1000), now, error, endpoint_id),
        )
        return 0

    async def _post(self, url: str, body: bytes, headers: dict[str, str]) -> str | None:
        """POST ``body`` to ``url``; ``None`` on a 2xx answer, else the endpoint's last_error.

        The host is resolved once and only its allowed addresses are connected to; the next
        one is tried only when connecting failed, so nothing is ever sent twice here.
        """
        assert self._client is not None
        try:
            async with asyncio.timeout(self.timeout):
                destination = await self.outbound.destination(url)
                if destination.refusal is not None:
                    return destination.refusal
                unconnected: httpx.HTTPError | None = None
                for address in destination.addresses[: self.max_addresses]:
                    request = destination.request(
                        self._client, "POST", address, content=body, headers=headers
                    )
                    try:
                        # The answer's body is never read: a receiver cannot fill memory.
                        response = await self._client.send(request, stream=True)
                    except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
                        unconnected = exc
                        continue
                    await response.aclose()
                    if 200 <= response.status_code < 300:
                        return None
                    return f"HTTP {response.status_code}"
                assert unconnected is not None
                raise unconnected
        except DNSLookupError as exc:
            return exc.reason
        except TimeoutError:
            return f"TimeoutError: no answer within {self.timeout} s"
        except (httpx.HTTPError, OSError) as exc:
            return f"{type(exc).__name__}: {error_text(exc)}"[:500]

    async def _release(self, endpoint_id: int, ids: list[str]) -> None:
        await self._write(
            f"UPDATE webhook_queue SET lease_until_ms = 0 WHERE endpoint_id = ? "
            f"AND event_id IN ({', '.join('?' * len(ids))})",
            [endpoint_id, *ids],
        )


def _now_ms() -> int:
    return int(time.time() * 1000)


def _public_only() -> Outbound:
    """Delivery's default: the system resolver, public addresses only."""
    return Outbound(AddressResolver(), AddressPolicy(setting="EDGE_WEBHOOK_ALLOW_NETWORKS"))
