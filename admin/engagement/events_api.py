"""The events API: raw events with filters and cursor pagination, and a streaming export.

``GET /api/v1/engagement/events`` pages through events in time order (then id), newest last;
``next_cursor`` is an opaque token for the page after this one (``null`` on the last page),
stable while events are added: keyset pagination on ``(ts_ms, id)``, never an offset.

``GET /api/v1/engagement/events/export?format=ndjson|csv`` streams every matching event of a
time range. It reads a page at a time on a connection of its own and writes each page as it
goes, so memory stays flat whatever the range holds.
"""

from __future__ import annotations

import base64
import csv
import io
import json
import re
from collections.abc import AsyncIterator

from starlette.endpoints import HTTPEndpoint
from starlette.requests import Request
from starlette.responses import StreamingResponse
from starlette.routing import Route

from admin.accounts.auth import authenticate
from admin.api.contracts import Operations
from admin.api.errors import InvalidData
from admin.api.timestamps import epoch_ms
from admin.engagement.contracts import EventFilterParams, EventPage, EventsParams, ExportParams
from admin.engagement.rendering import event_json
from admin.engagement.service import Engagement
from edge.db.repositories.events import EventFilter
from edge.db.store import Store
from edge.model.accounts import Account
from edge.model.events import StoredEvent

PREFIX = "/api/v1/engagement"
MAX_TS_MS = 2**63 - 1
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


def event_filter(account_id: int, query: EventFilterParams) -> EventFilter:
    """The filters of ``query``, for the caller's account."""
    return EventFilter(
        account_id,
        None if query.start is None else epoch_ms(query.start),
        None if query.end is None else epoch_ms(query.end),
        query.types,
        query.verdicts,
        query.domain,
        query.message,
        query.recipient,
        query.link,
    )


def _store(request: Request) -> Store:
    engagement: Engagement = request.app.state.engagement
    return engagement.store


def encode_cursor(ts_ms: int, event_id: str) -> str:
    return base64.urlsafe_b64encode(f"{ts_ms}:{event_id}".encode()).decode().rstrip("=")


#: What :func:`encode_cursor` writes: a time in ms (a signed 64-bit column) and an event id
#: (text without NUL, which PostgreSQL's text cannot hold).
_CURSOR = re.compile(r"(0|[1-9][0-9]{0,18}):([^\x00]{1,128})")


def decode_cursor(cursor: str) -> tuple[int, str]:
    """The key of the last event of the page before; only what :func:`encode_cursor` writes
    is one (a time beyond the column's 64 bits would make the query fail, not refuse)."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except ValueError:  # binascii.Error and UnicodeDecodeError are ValueErrors
        raw = ""
    found = _CURSOR.fullmatch(raw)
    if found is None or int(found[1]) > MAX_TS_MS:
        raise InvalidData("'cursor' is not a cursor this API returned", field="cursor")
    return int(found[1]), found[2]


op = Operations("Engagement", auth=authenticate)


class Events(HTTPEndpoint):
    @op("Events in time order, with filters and cursor pagination", answer=EventPage)
    async def get(self, request: Request, account: Account, query: EventsParams) -> EventPage:
        f = event_filter(account.id, query)
        after = decode_cursor(query.cursor) if query.cursor else None
        # One event more than asked tells whether another page follows.
        async with _store(request).reading() as db:
            events = await db.events.page(f, limit=query.limit + 1, after=after)
        more = len(events) > query.limit
        events = events[: query.limit]
        next_cursor = encode_cursor(events[-1].ts_ms, events[-1].id) if more else None
        return EventPage([event_json(e) for e in events], next_cursor, query.limit)  # type: ignore[misc]


class Export(HTTPEndpoint):
    @op("Stream every event of a time range as NDJSON or CSV",
        content={"application/x-ndjson": str, "text/csv": str})  # fmt: skip
    async def get(
        self, request: Request, account: Account, query: ExportParams
    ) -> StreamingResponse:
        f = event_filter(account.id, query)
        fmt = query.format
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
    Route(f"{PREFIX}/events", Events),
    Route(f"{PREFIX}/events/export", Export),
]
