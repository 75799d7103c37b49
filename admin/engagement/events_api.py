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
from collections.abc import AsyncIterator
from dataclasses import dataclass

import aiosqlite
from starlette.endpoints import HTTPEndpoint
from starlette.requests import Request
from starlette.responses import StreamingResponse
from starlette.routing import Route

from admin.accounts.auth import authenticate
from admin.accounts.service import Account
from admin.api.contracts import Operations
from admin.api.errors import InvalidData
from admin.api.timestamps import epoch_ms
from admin.engagement.contracts import EventFilterParams, EventPage, EventsParams, ExportParams
from admin.engagement.webhooks import EVENT_FIELDS, event_json

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


@dataclass(frozen=True)
class EventFilter:
    #: The caller's account; ``None`` only for the operator's CLI, which sees every account.
    account_id: int | None
    start_ms: int | None = None
    end_ms: int | None = None
    types: tuple[str, ...] = ()
    verdicts: tuple[str, ...] = ()
    domain: str | None = None
    message: str | None = None
    recipient: str | None = None
    link: str | None = None

    @classmethod
    def of(cls, account_id: int, query: EventFilterParams) -> EventFilter:
        return cls(
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

    def where(self) -> tuple[str, list]:
        clauses: list[str] = ["1 = 1"]
        args: list = []
        if self.account_id is not None:
            clauses, args = ["account_id = ?"], [self.account_id]
        if self.start_ms is not None:
            clauses.append("ts_ms >= ?")
            args.append(self.start_ms)
        if self.end_ms is not None:
            clauses.append("ts_ms < ?")
            args.append(self.end_ms)
        for column, values in (("type", self.types), ("verdict", self.verdicts)):
            if values:
                clauses.append(f"{column} IN ({', '.join('?' * len(values))})")
                args.extend(values)
        for column, value in (
            ("domain", self.domain),
            ("message", self.message),
            ("recipient", self.recipient),
            ("link", self.link),
        ):
            if value is not None:
                clauses.append(f"{column} = ?")
                args.append(value)
        return " AND ".join(clauses), args


async def pages(
    conn: aiosqlite.Connection,
    f: EventFilter,
    *,
    page: int,
    after: tuple[int, str] | None = None,
    columns: str = EVENT_FIELDS,
) -> AsyncIterator[list[tuple]]:
    """Pages of event rows in (ts_ms, id) order, after the key ``after``.

    ``columns`` must begin with ``id, type, ts_ms`` (the key is read from the rows).
    """
    where, args = f.where()
    while True:
        clause, extra = where, []
        if after is not None:
            clause += " AND (ts_ms, id) > (?, ?)"
            extra = list(after)
        async with conn.execute(
            f"SELECT {columns} FROM events WHERE {clause} ORDER BY ts_ms, id LIMIT ?",
            [*args, *extra, page],
        ) as cur:
            rows = list(await cur.fetchall())
        if rows:
            yield rows
        if len(rows) < page:
            return
        after = (rows[-1][2], rows[-1][0])


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


op = Operations("Engagement", auth=authenticate)


class Events(HTTPEndpoint):
    @op("Events in time order, with filters and cursor pagination", answer=EventPage)
    async def get(self, request: Request, account: Account, query: EventsParams) -> EventPage:
        f = EventFilter.of(account.id, query)
        after = decode_cursor(query.cursor) if query.cursor else None
        conn = request.app.state.engagement.reader
        # One row more than asked tells whether another page follows.
        rows: list[tuple] = []
        async for chunk in pages(conn, f, page=query.limit + 1, after=after):
            rows = chunk
            break
        more = len(rows) > query.limit
        rows = rows[: query.limit]
        next_cursor = encode_cursor(rows[-1][2], rows[-1][0]) if more else None
        return EventPage([event_json(r) for r in rows], next_cursor, query.limit)  # type: ignore[misc]


class Export(HTTPEndpoint):
    @op("Stream every event of a time range as NDJSON or CSV",
        content={"application/x-ndjson": str, "text/csv": str})  # fmt: skip
    async def get(
        self, request: Request, account: Account, query: ExportParams
    ) -> StreamingResponse:
        f = EventFilter.of(account.id, query)
        fmt = query.format
        path = request.app.state.engagement.path

        async def stream() -> AsyncIterator[bytes]:
            # A connection of its own: a long export holds no lock anyone else needs (WAL).
            async with aiosqlite.connect(path, timeout=5.0) as conn:
                if fmt == "csv":
                    yield (",".join(CSV_COLUMNS) + "\r\n").encode()
                async for rows in pages(conn, f, page=1000):
                    yield _render(rows, fmt)

        media = "application/x-ndjson" if fmt == "ndjson" else "text/csv; charset=utf-8"
        name = f"events.{'ndjson' if fmt == 'ndjson' else 'csv'}"
        return StreamingResponse(
            stream(),
            media_type=media,
            headers={"content-disposition": f'attachment; filename="{name}"'},
        )


def _render(rows: list[tuple], fmt: str) -> bytes:
    if fmt == "ndjson":
        return "".join(
            json.dumps(event_json(r), separators=(",", ":")) + "\n" for r in rows
        ).encode()
    out = io.StringIO()
    writer = csv.writer(out)
    for r in rows:
        data = event_json(r)
        writer.writerow(["" if data[c] is None else data[c] for c in CSV_COLUMNS])
    return out.getvalue().encode()


routes = [
    Route(f"{PREFIX}/events", Events),
    Route(f"{PREFIX}/events/export", Export),
]
