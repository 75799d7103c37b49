"""The engagement side of a worker: webhook delivery, retention, on-demand roll-up, and a
read connection.

Built once per worker by :func:`admin.server.create_app`, started and stopped with the
server, and reached by the routes as ``request.app.state.engagement``. Every worker runs the
same background tasks; they coordinate through the database (webhook leases, batched
deletes), so any number of workers is safe. The roll-ups are kept current by the ingester
(edge/ingester.py); the stats API only catches them up before it reads.
"""

from __future__ import annotations

from pathlib import Path

import aiosqlite

from admin.engagement.retention import Retention
from admin.engagement.webhooks import WebhookDelivery, WebhookEndpoints
from admin.outbound.client import Outbound
from edge.config import Settings
from edge.db.admin import AdminDatabase
from edge.events.prepare import EventIngest
from edge.events.rollup import Rollup


class Engagement:
    def __init__(
        self, settings: Settings, db: AdminDatabase, ingest: EventIngest | None = None
    ) -> None:
        path = settings.database_path
        self.path = Path(path)
        #: The writer's ingest in this process, told when settings change (None: another
        #: store implementation, which then reads settings on its own schedule).
        self.ingest = ingest
        #: For reads that must include every stored event (the ingester keeps it current).
        self.rollup = Rollup(path)
        #: Where webhooks may go (EDGE_WEBHOOK_ALLOW_NETWORKS), checked at registration and
        #: at every delivery.
        outbound = Outbound.for_webhooks(settings)
        self.endpoints = WebhookEndpoints(db, outbound)
        self.delivery = WebhookDelivery(
            path,
            outbound=outbound,
            timeout=settings.webhook_timeout,
            backoff_base=settings.webhook_backoff_base,
            max_age=settings.webhook_max_age,
        )
        self.retention = Retention(
            path,
            max_age_days=settings.event_retention_days,
            interval=settings.retention_interval,
        )
        self.admin_db = db
        self._reader: aiosqlite.Connection | None = None

    @property
    def reader(self) -> aiosqlite.Connection:
        """A connection for the stats and events API reads (WAL: never waits on writers)."""
        if self._reader is None:
            raise RuntimeError("engagement is not started")
        return self._reader

    async def start(self) -> None:
        self._reader = await aiosqlite.connect(self.path, timeout=5.0, isolation_level=None)
        await self.rollup.open()
        await self.delivery.start()
        await self.retention.start()

    async def stop(self) -> None:
        await self.retention.stop()
        await self.delivery.stop()
        await self.rollup.close()
        if self._reader is not None:
            await self._reader.close()
            self._reader = None
