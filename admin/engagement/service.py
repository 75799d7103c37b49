"""The engagement side of a worker: webhook delivery, retention, and on-demand roll-up.

Built once per worker by :func:`admin.server.create_app`, run with the server
(:meth:`Engagement.running`), and reached by the routes as ``request.app.state.engagement``.
Every worker runs the same background tasks; they coordinate through the database (webhook
leases, batched deletes), so any number of workers is safe. The roll-ups are kept current
by the ingester (:mod:`edge.events.ingester`); the stats API only catches them up before it
reads.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

from admin.engagement.retention import Retention
from admin.engagement.stats import StatsQuery, run_stats
from admin.engagement.webhooks.delivery import WebhookDelivery
from admin.engagement.webhooks.endpoints import WebhookEndpoints
from admin.outbound.client import Outbound
from edge.db.store import StoreUnavailable
from edge.events.rollup import Rollup
from edge.model.privacy import PrivacySettings
from edge.serving.server import Runtime

log = logging.getLogger("admin.engagement")


class Engagement:
    def __init__(self, runtime: Runtime) -> None:
        settings = runtime.settings
        self.runtime = runtime
        self.store = runtime.store
        #: For reads that must include every stored event (the ingester keeps it current).
        self.rollup = Rollup(runtime.store)
        #: Where webhooks may go (EDGE_WEBHOOK_ALLOW_NETWORKS), checked at registration and
        #: at every delivery.
        outbound = Outbound.for_webhooks(settings)
        self.endpoints = WebhookEndpoints(runtime.store, outbound)
        self.delivery = WebhookDelivery(
            runtime.store,
            outbound=outbound,
            timeout=settings.webhook_timeout,
            backoff_base=settings.webhook_backoff_base,
            max_age=settings.webhook_max_age,
        )
        self.retention = Retention(
            runtime.store,
            max_age_days=settings.event_retention_days,
            interval=settings.retention_interval,
        )

    async def stats(self, query: StatsQuery) -> dict[str, Any]:
        """Totals, series and top links for ``query`` (the stats API's and the console's),
        counting every event stored before the call."""
        try:
            await self.rollup.catch_up()
        except StoreUnavailable as exc:  # the ingester holds the lock: answer what's counted
            log.warning("stats answered without catching the roll-ups up: %s", exc)
        return await run_stats(self.store, query)

    async def privacy(self, account_id: int) -> PrivacySettings:
        """The account's privacy and tracking switches."""
        async with self.store.reading() as db:
            return await db.privacy.get(account_id)

    async def change_privacy(self, account_id: int, **changes: Any) -> PrivacySettings:
        """Change some switches (the others are kept); this worker applies them at once, the
        others within a second."""
        async with self.store.transaction() as tx:
            settings = replace(await tx.privacy.get(account_id), **changes)
            await tx.privacy.put(account_id, settings, now=int(time.time()))
        self.runtime.settings_changed()
        return settings

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[Engagement]:
        """Webhook delivery and retention, for as long as the server runs."""
        async with self.delivery.running(), self.retention.running():
            yield self
