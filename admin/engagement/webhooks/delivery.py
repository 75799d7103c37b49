"""Webhook delivery: leases a batch of an endpoint's queue, POSTs it signed, backs off.

At least once: rows are deleted only after a 2xx answer; a lease left by a process that died
runs out and the rows go again with the same event ids. Where requests may go is
:mod:`admin.outbound`'s business (see the package's docstring).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import time
from collections.abc import AsyncIterator

import httpx

from admin.engagement.rendering import event_json
from admin.engagement.webhooks.endpoints import public_only
from admin.engagement.webhooks.signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign
from admin.outbound.client import Outbound, error_text
from admin.outbound.resolve import DNSLookupError
from edge.db.store import Store
from edge.model.events import StoredEvent
from edge.model.webhooks import DueEndpoint
from edge.periodic import Periodic

log = logging.getLogger("admin.webhooks")


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

    def __init__(
        self, store: Store, *, outbound: Outbound | None = None, **overrides: float
    ) -> None:
        #: Resolution and the address policy (``EDGE_WEBHOOK_ALLOW_NETWORKS``): see the package.
        self.outbound = outbound or public_only()
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
        async with self.outbound.client(timeout=self.timeout) as client:
            self._client = client
            try:
                async with Periodic(
                    "webhook-delivery", self.deliver_backlog, interval=self.poll_interval
                ):
                    yield self
            finally:
                self._client = None

    def backoff(self, failures: int) -> float:
        # The maximum is reached long before 2**64; past 2**1023 a float overflows.
        doublings = min(max(failures - 1, 0), 64)
        delay: float = min(self.backoff_base * 2**doublings, self.backoff_max)
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

    async def send_test(self, account_id: int, endpoint_id: int) -> str | None:
        """POST a signed test batch (one made-up click, ``"test": true``) to the account's
        endpoint now, as a delivery would; ``None`` when it answered 2xx, else why not. The
        queue and the endpoint's status are left as they are. :class:`LookupError` when the
        account has no such endpoint."""
        async with self.store.reading() as db:
            endpoint = await db.webhooks.destination(account_id, endpoint_id)
        if endpoint is None:
            raise LookupError(endpoint_id)
        now = _now_ms()
        sample = StoredEvent(
            id=f"test-{now}",
            type="click",
            ts_ms=now,
            account_id=account_id,
            domain="example.test",
            message="test-message",
            link="test-link",
            url="https://example.test/",
        )
        body = json.dumps(
            {"endpoint_id": endpoint_id, "test": True, "events": [event_json(sample)]},
            separators=(",", ":"),
        ).encode()
        async with self._client_for_test():
            return await self._post(endpoint.url, body, self._headers(endpoint.secret, body))

    @contextlib.asynccontextmanager
    async def _client_for_test(self) -> AsyncIterator[None]:
        # The running loop's client when there is one (the server), else one for this call.
        if self._client is not None:
            yield
            return
        async with self.outbound.client(timeout=self.timeout) as client:
            self._client = client
            try:
                yield
            finally:
                self._client = None

    @staticmethod
    def _headers(secret: str, body: bytes) -> dict[str, str]:
        timestamp = int(time.time())
        return {
            "content-type": "application/json",
            "user-agent": "tracking-edge-webhooks/1",
            TIMESTAMP_HEADER: str(timestamp),
            SIGNATURE_HEADER: sign(secret, timestamp, body),
        }

    async def _deliver(self, endpoint_id: int, url: str, secret: str) -> int:
        events = await self._lease(endpoint_id)
        if not events:
            return 0
        ids = [e.id for e in events]
        body = json.dumps(
            {"endpoint_id": endpoint_id, "events": [event_json(e) for e in events]},
            separators=(",", ":"),
        ).encode()
        try:
            error = await self._post(url, body, self._headers(secret, body))
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
        except Exception as exc:  # a URL stored before it was refused (a port past 65535)
            log.warning("webhook POST to %s failed unexpectedly", url, exc_info=True)
            cause: BaseException = exc
            while isinstance(cause, BaseExceptionGroup):  # the connection's task group's
                cause = cause.exceptions[0]
            return f"{type(cause).__name__}: the request could not be made"

    async def _release(self, endpoint_id: int, ids: list[str]) -> None:
        async with self.store.transaction() as tx:
            await tx.webhooks.release(endpoint_id, ids)


def _now_ms() -> int:
    return int(time.time() * 1000)
