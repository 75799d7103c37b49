"""The events API: raw events with filters and cursor pagination, and a streaming export.

``GET /api/v1/engagement/events`` pages through events in time order (then id), newest last;
``next_cursor`` is an opaque token for the page after this one (``null`` on the last page),
stable while events are added: keyset pagination on ``(ts_ms, id)``, never an offset.

``GET /api/v1/engagement/events/export?format=ndjson|csv`` streams every matching event of a
time range. It reads a page at a time and writes each page as it goes, so memory stays flat
whatever the range holds.
"""

from __future__ import annotations

import base64
import csv
import io
import json
from collections.abc import AsyncIterator

from starlette.requests import Request
from starlette.responses import JSONResponse, StreamingResponse

from admin.accounts.auth import authenticate
from admin.api import query_params as qp
from admin.api.errors import InvalidData
from admin.api.routing import resource
from admin.engagement.rendering import event_json
from edge.db.repositories.events import EventFilter
from edge.db.store import Store
from edge.model.events import EVENT_TYPES, VERDICTS, StoredEvent

PREFIX = "/api/v1/engagement"
CSV_COLUMNS = (
    "id",
    "type",
    "time",
    "ts_ms",
    "domain",
    "message",
    "recipient",
    "link",
    "url",
    "client_ip",
    "user_agent",
    "method",
    "prefetch",
    "verdict",
    "rule",
)


def event_filter(request: Request, account_id: int, *, need_range: bool) -> EventFilter:
    """The filters in the query string (``from``/``to`` required with ``need_range``)."""
    return EventFilter(
        account_id,
        qp.time_ms(request, "from", required=need_range),
        qp.time_ms(request, "to", required=need_range),
        qp.choices(request, "type", EVENT_TYPES),
        qp.choices(request, "verdict", VERDICTS),
        qp.text(request, "domain"),
        qp.text(request, "message"),
        qp.text(request, "recipient"),
        qp.text(request, "link"),
    )


def _store(request: Request) -> Store:
    return request.app.state.engagement.store


def encode_cursor(ts_ms: int, event_id: str) -> str:
    return base64.urlsafe_b64encode(f"{ts_ms}:{event_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[int, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        ts, _, event_id = raw.partition(":")
        if not event_id:
            raise ValueError(cursor)
        return int(ts), event_id
    except ValueError:
        raise InvalidData("'cursor' is not a cursor this API returned", field="cursor") from None


async def list_events(request: Request) -> JSONResponse:
    account = await authenticate(request)
    f = event_filter(request, account.id, need_range=False)
    limit = qp.integer(request, "limit", 100, 1, 1000)
    cursor = qp.text(request, "cursor")
    after = decode_cursor(cursor) if cursor else None
    # One event more than asked tells whether another page follows.
    async with _store(request).reading() as db:
        events = await db.events.page(f, limit=limit + 1, after=after)
    more = len(events) > limit
    events = events[:limit]
    next_cursor = encode_cursor(events[-1].ts_ms, events[-1].id) if more else None
    return JSONResponse(
        {"results": [event_json(e) for e in events], "next_cursor": next_cursor, "limit": limit}
    )


async def export_events(request: Request) -> StreamingResponse:
    account = await authenticate(request)
    f = event_filter(request, account.id, need_range=True)
    fmt = qp.text(request, "format") or "ndjson"
    if fmt not in ("ndjson", "csv"):
        raise InvalidData("'format' must be ndjson or csv", field="format")
    store = _store(request)

    async def stream() -> AsyncIterator[bytes]:
        # Page by page, each its own statement: a long export holds no lock anyone needs.
        async with store.reading() as db:
            if fmt == "csv":
                yield (",".join(CSV_COLUMNS) + "\r\n").encode()
            async for events in db.events.pages(f, page=1000):
                yield _render(events, fmt)

    media = "application/x-ndjson" if fmt == "ndjson" else "text/csv; charset=utf-8"
    name = f"events.{'ndjson' if fmt == 'ndjson' else 'csv'}"
    return StreamingResponse(
        stream(),
        media_type=media,
        headers={"content-disposition": f'attachment; filename="{name}"'},
    )


def _render(events: list[StoredEvent], fmt: str) -> bytes:
    if fmt == "ndjson":
        return "".join(
            json.dumps(event_json(e), separators=(",", ":")) + "\n" for e in events
        ).encode()
    out = io.StringIO()
    writer = csv.writer(out)
    for e in events:
        data = event_json(e)
        writer.writerow(["" if data[c] is None else data[c] for c in CSV_COLUMNS])
    return out.getvalue().encode()


routes = [
    resource(f"{PREFIX}/events", GET=list_events),
    resource(f"{PREFIX}/events/export", GET=export_events),
]
