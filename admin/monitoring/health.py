"""``GET /healthz``: whether this node can answer tracking requests, for load balancers.

A node is *ready* once its domain table is loaded: from then on it answers every click and
open from memory, whatever happens to the database. So the answer is ``200`` with
``"status": "ok"``, or ``"degraded"`` while the database cannot be reached (redirects still
work; events wait in the spool; the admin API answers 503), and ``503`` with
``"status": "starting"`` only before the table was ever loaded. A balancer should keep a
degraded node in rotation: taking it out would turn a database outage into dead links.
"""

from __future__ import annotations

import asyncio
import time
from typing import Literal

from msgspec import Struct
from starlette.requests import Request
from starlette.responses import Response

from admin.api.contracts import META, json_response
from edge import __version__
from edge.db.store import StoreUnavailable
from edge.events.spool import SpoolReader
from edge.serving.server import Runtime

#: Seconds the database gets to answer a health check.
DATABASE_TIMEOUT = 2.0


class Health(Struct):
    """The node's readiness, its database, and counters of this worker process since it
    started; the spool backlog counts every process's events not yet stored (``null`` while
    the database, which knows how far the spool was read, cannot be reached)."""

    status: Literal["ok", "degraded", "starting"]
    database: Literal["ok", "unavailable"]
    version: str
    #: Seconds since the domain table was last loaded (``null``: never).
    domains_age_seconds: float | None
    spool_backlog_bytes: int | None
    redirects_served: int
    pixels_served: int
    events_pending: int
    events_spooled: int
    events_ingested: int


async def spool_offsets(runtime: Runtime) -> dict[str, int] | None:
    """How far the spool was stored, or ``None`` when the database does not answer in time."""
    try:
        async with asyncio.timeout(DATABASE_TIMEOUT), runtime.store.reading() as db:
            return await db.spool.offsets()
    except (StoreUnavailable, TimeoutError):
        return None


@META("Readiness for load balancers, the database's state, this worker's counters",
      answer=Health, responses={503: {"application/json": Health}})  # fmt: skip
async def health(request: Request) -> Response:
    runtime: Runtime = request.app.state.runtime
    offsets = await spool_offsets(runtime)
    backlog = None
    if offsets is not None:
        reader = SpoolReader(runtime.settings.spool_dir)
        backlog = await asyncio.to_thread(reader.backlog_bytes, offsets)
    loaded_at = runtime.domains.loaded_at
    ingester = runtime.ingester
    answer = Health(
        status="starting" if loaded_at is None else "ok" if offsets is not None else "degraded",
        database="ok" if offsets is not None else "unavailable",
        version=__version__,
        domains_age_seconds=None if loaded_at is None else round(time.time() - loaded_at, 3),
        spool_backlog_bytes=backlog,
        redirects_served=runtime.served.redirects,
        pixels_served=runtime.served.pixels,
        events_pending=runtime.recorder.pending,
        events_spooled=runtime.recorder.spooled,
        events_ingested=ingester.committed if ingester is not None else 0,
    )
    return json_response(answer, 503 if loaded_at is None else 200)
