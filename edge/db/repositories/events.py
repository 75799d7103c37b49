"""``events`` read back: filtered pages in time order, for the events API and its export.

How events are written (in bulk, with the spool offsets) and counted is engine-specific and
lives with the engine (``edge.db.sqlite.events``, ``edge.db.sqlite.rollups``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

from edge.db.connection import Connection, Row
from edge.db.repositories.labels import labelled
from edge.model.events import STORED_FIELDS, StoredEvent

#: The events table's columns in :data:`~edge.model.events.STORED_FIELDS` order.
STORED_COLUMNS = ", ".join(STORED_FIELDS)
_PREFETCH = STORED_FIELDS.index("prefetch")


@dataclass(frozen=True, slots=True)
class Neighbourhood:
    """What one :meth:`EventRepository.others_near` call covered: its keys and window, and
    the last batch each other node had committed when it ran (every event of those keys in
    that window, up to those batches, was in its answer)."""

    keys: frozenset[tuple[int, str]]
    start_ms: int
    end_ms: int
    batches: dict[str, int]


def stored_event(row: Row) -> StoredEvent:
    event = StoredEvent(*row)
    event.prefetch = bool(row[_PREFETCH])
    return event


@dataclass(frozen=True)
class EventFilter:
    """Which events to read; every field narrows."""

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
    #: Labels of the message (``PUT /api/v1/engagement/messages/{message}``).
    campaign: str | None = None
    tag: str | None = None

    def where(self) -> tuple[str, list[object]]:
        clauses: list[str] = ["1 = 1"]
        args: list[object] = []
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
        for kind, label in (("campaign", self.campaign), ("tag", self.tag)):
            if label is not None:
                clause, label_args = labelled(self.account_id, kind, label)
                clauses.append(clause)
                args += label_args
        return " AND ".join(clauses), args


class EventRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    async def page(
        self, f: EventFilter, *, limit: int, after: tuple[int, str] | None = None
    ) -> list[StoredEvent]:
        """Up to ``limit`` events in ``(ts_ms, id)`` order, after the key ``after``
        (keyset pagination: stable while events are added, never an offset)."""
        where, args = f.where()
        if after is not None:
            where += " AND (ts_ms, id) > (?, ?)"
            args += list(after)
        rows = await self.conn.fetchall(
            f"SELECT {STORED_COLUMNS} FROM events WHERE {where} ORDER BY ts_ms, id LIMIT ?",
            [*args, limit],
        )
        return [stored_event(r) for r in rows]

    async def latest(self, f: EventFilter, *, limit: int) -> list[StoredEvent]:
        """The ``limit`` most recent events, newest first (the console's live tail)."""
        where, args = f.where()
        rows = await self.conn.fetchall(
            f"SELECT {STORED_COLUMNS} FROM events WHERE {where} "
            "ORDER BY ts_ms DESC, id DESC LIMIT ?",
            [*args, limit],
        )
        return [stored_event(r) for r in rows]

    async def pages(
        self, f: EventFilter, *, page: int, after: tuple[int, str] | None = None
    ) -> AsyncIterator[list[StoredEvent]]:
        """Every matching event, ``page`` at a time (memory stays flat)."""
        while True:
            events = await self.page(f, limit=page, after=after)
            if events:
                yield events
            if len(events) < page:
                return
            after = (events[-1].ts_ms, events[-1].id)

    async def others_near(
        self,
        keys: Sequence[tuple[int, str]],
        start_ms: int,
        end_ms: int,
        honeypot_since_ms: int,
        covered: Neighbourhood | None = None,
    ) -> tuple[list[StoredEvent], Neighbourhood | None]:
        """Clicks and opens *other nodes* stored for these ``(account, message)`` keys between
        ``start_ms`` and ``end_ms``, and their honeypot clicks since ``honeypot_since_ms``:
        what a node's behaviour rules must also see. Events the previous call (``covered``,
        what it returned) already gave may be left out. One machine's ingester sees every
        event itself: nothing (an engine of several nodes overrides this)."""
        return [], None
