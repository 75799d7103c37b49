"""``GET /metrics``: the node's figures in the Prometheus text format.

Per worker process (each scrape reaches one; Prometheus adds the ``instance``): requests by
kind and status, events spooled and ingested. Per node: the spool's backlog and how long its
oldest unstored event may have waited. Per cluster, from the database: events waiting to be
counted, the webhook backlog and failures, and the days until each certificate expires.

It names every account's domains, so it answers only with ``EDGE_METRICS_TOKEN``
(``Authorization: Bearer <token>``); unset, it is off (404).
"""

from __future__ import annotations

import asyncio
import hmac
import time
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.requests import Request
from starlette.responses import Response

from admin.api.contracts import META
from admin.api.errors import NotFound
from admin.monitoring.health import DATABASE_TIMEOUT, spool_offsets
from edge.db.store import StoreUnavailable
from edge.events.spool import SpoolReader
from edge.serving.server import Runtime

MEDIA_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class _Families(Collector):
    """A registry's collector that hands over families made beforehand (the figures come
    from async reads; a collector's ``collect`` is synchronous)."""

    def __init__(self, families: list[Metric]) -> None:
        self.families = families

    def collect(self) -> Iterator[Metric]:
        return iter(self.families)


def _authorised(request: Request, token: str) -> bool:
    given = request.headers.get("authorization", "")
    scheme, _, value = given.partition(" ")
    return bool(token) and scheme.lower() == "bearer" and hmac.compare_digest(value, token)


@META("Prometheus metrics (with EDGE_METRICS_TOKEN as a bearer token)", errors=(404,),
      content={MEDIA_TYPE: str})  # fmt: skip
async def metrics(request: Request) -> Response:
    runtime: Runtime = request.app.state.runtime
    if not _authorised(request, runtime.settings.metrics_token):
        raise NotFound(request.url.path)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Families(await families(runtime)))
    return Response(generate_latest(registry), media_type=MEDIA_TYPE)


async def families(runtime: Runtime) -> list[Metric]:
    """Every metric family, read now."""
    served = runtime.served
    requests = CounterMetricFamily(
        "edge_requests", "Tracking requests this worker answered", labels=["kind", "status"]
    )
    for kind, status, value in (
        ("click", "302", served.redirects),
        ("click", "404", served.refused_clicks),
        ("open", "200", served.pixels),
        ("unknown_host", "404", served.unknown_hosts),
        ("other", "", served.other),
    ):
        requests.add_metric([kind, status], value)
    spooled = CounterMetricFamily("edge_events_spooled", "Events this worker wrote to the spool")
    spooled.add_metric([], runtime.recorder.spooled)
    found: list[Metric] = [requests, spooled]
    if runtime.ingester is not None:
        ingested = CounterMetricFamily("edge_events_ingested", "Events this process stored")
        ingested.add_metric([], runtime.ingester.committed)
        found.append(ingested)
    found += await _node(runtime)
    found += await _cluster(runtime)
    return found


async def _node(runtime: Runtime) -> list[Metric]:
    up = GaugeMetricFamily("edge_database_up", "Whether the database answered this scrape")
    offsets = await spool_offsets(runtime)
    up.add_metric([], 0 if offsets is None else 1)
    if offsets is None:
        return [up]
    reader = SpoolReader(runtime.settings.spool_dir)
    backlog = GaugeMetricFamily(
        "edge_spool_backlog_bytes", "Bytes spooled on this node and not yet stored"
    )
    backlog.add_metric([], await asyncio.to_thread(reader.backlog_bytes, offsets))
    oldest = await asyncio.to_thread(reader.oldest_unread, offsets)
    lag = GaugeMetricFamily(
        "edge_ingest_lag_seconds",
        "At most how long this node's oldest event not yet stored has waited (0: none waits)",
    )
    lag.add_metric([], 0.0 if oldest is None else max(time.time() - oldest, 0.0))
    return [up, backlog, lag]


async def _cluster(runtime: Runtime) -> list[Metric]:
    try:
        async with asyncio.timeout(DATABASE_TIMEOUT), runtime.store.reading() as db:
            uncounted = await db.rollups.pending()
            webhooks = await db.webhooks.totals()
            certificates = await db.certificates.all()
    except (StoreUnavailable, TimeoutError):
        return []
    pending = GaugeMetricFamily(
        "edge_rollup_pending", "Whether stored events wait to be counted in the roll-ups"
    )
    pending.add_metric([], int(uncounted))
    backlog = GaugeMetricFamily("edge_webhook_backlog", "Events queued for webhooks, undelivered")
    backlog.add_metric([], webhooks.backlog)
    failing = GaugeMetricFamily(
        "edge_webhook_failing_endpoints", "Webhook endpoints whose last delivery failed"
    )
    failing.add_metric([], webhooks.failing_endpoints)
    delivered = CounterMetricFamily("edge_webhook_delivered", "Events delivered to webhooks")
    delivered.add_metric([], webhooks.delivered)
    expired = CounterMetricFamily(
        "edge_webhook_expired", "Events dropped undelivered past EDGE_WEBHOOK_MAX_AGE"
    )
    expired.add_metric([], webhooks.expired)
    expiry = GaugeMetricFamily(
        "edge_certificate_expiry_days", "Days until a certificate expires", labels=["domain"]
    )
    now = time.time()
    for record in certificates:
        expiry.add_metric([record.domain], round((record.not_after.timestamp() - now) / 86400, 3))
    return [pending, backlog, failing, delivered, expired, expiry]
