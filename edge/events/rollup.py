"""Unique keys, roll-ups and the webhook queue, kept behind the ingester.

The ingester (edge/ingester.py) only inserts classified events, and runs roll-up passes
between its rounds. A :class:`Rollup` pass then reads the events
stored since the last pass (``rowid`` above the mark in ``rollup_state``; SQLite hands out
rowids in commit order) and, in one transaction with moving the mark:

- claims the unique keys those events open in ``engagement_firsts`` and marks the events
  (``events.firsts``, the ``FIRST_*`` bits);
- adds the events to the hourly and daily roll-ups;
- enqueues them for the account's webhook endpoints.

Because the mark moves in the same transaction, every stored event is counted and enqueued
exactly once, whichever process runs the pass and however it is interrupted. Each pass is a
handful of set-based statements over at most ``chunk`` events, so it holds the write lock
briefly. The stats API calls :meth:`Rollup.catch_up` before it reads, so its answers include
every event stored before the request.

A unique open (click) is counted once per message and recipient reference, at the time of
the first counted event of that key: the roll-ups of any range add up to the number of
recipients who opened (clicked) for the first time in it. Scope 0 keys count people only
(``human``, ``proxy_open``); scope 1 keys count every verdict (for ``include_machine``).
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import aiosqlite

from edge.model.events import COUNTED_VERDICTS, Verdict

# Bits of events.firsts: which unique keys an event opened (scope 0 "counted" / 1 "any").
FIRST_OPEN, FIRST_OPEN_ANY = 1, 2
FIRST_CLICK, FIRST_CLICK_ANY = 4, 8
FIRST_LINK, FIRST_LINK_ANY = 16, 32
COUNTED_BITS = FIRST_OPEN | FIRST_CLICK | FIRST_LINK

HOUR_MS = 3_600_000
DAY_MS = 86_400_000
ROLLUP_TABLES = (("rollups_hourly", HOUR_MS), ("rollups_daily", DAY_MS))
COUNTED_SQL = "('human', 'proxy_open')"

# (kind, scope, bit, which events, link part of the key)
_FIRST_KEYS = (
    ("open", 0, FIRST_OPEN, f"type != 'click' AND verdict IN {COUNTED_SQL}", "''"),
    ("open", 1, FIRST_OPEN_ANY, "type != 'click'", "''"),
    ("click", 0, FIRST_CLICK, f"type = 'click' AND verdict IN {COUNTED_SQL}", "''"),
    ("click", 1, FIRST_CLICK_ANY, "type = 'click'", "''"),
    ("link", 0, FIRST_LINK, f"type = 'click' AND verdict IN {COUNTED_SQL}", "coalesce(link, '')"),
    ("link", 1, FIRST_LINK_ANY, "type = 'click'", "coalesce(link, '')"),
)
_UPSERT_TAIL = (
    "ON CONFLICT DO UPDATE SET events = events + excluded.events, "
    "uniq_counted = uniq_counted + excluded.uniq_counted, "
    "uniq_any = uniq_any + excluded.uniq_any, "
    "link_uniq_counted = link_uniq_counted + excluded.link_uniq_counted, "
    "link_uniq_any = link_uniq_any + excluded.link_uniq_any"
)
_ROLLUP_COLUMNS = (
    "account_id, domain, bucket, message, link, type, verdict, "
    "events, uniq_counted, uniq_any, link_uniq_counted, link_uniq_any"
)


@dataclass(frozen=True, slots=True)
class Relabel:
    """An event already stored that a later event showed to be a machine's."""

    event_id: str
    verdict: Verdict


async def rolled_up_to(conn: aiosqlite.Connection) -> int:
    """The rowid up to which events have been counted."""
    async with conn.execute("SELECT value FROM rollup_state WHERE name = 'events'") as cur:
        row = await cur.fetchone()
    return row[0] if row else 0


async def roll_up_pass(conn: aiosqlite.Connection, chunk: int) -> int:
    """Count up to ``chunk`` new events inside the caller's transaction; returns how many."""
    low = await rolled_up_to(conn)
    async with conn.execute("SELECT max(rowid) FROM events") as cur:
        top = (await cur.fetchone())[0] or 0
    high = min(top, low + chunk)
    if high <= low:
        return 0
    span = "rowid > ? AND rowid <= ?"
    firsts: dict[str, int] = {}
    for kind, scope, bit, which, link in _FIRST_KEYS:
        # RETURNING yields only rows actually inserted: the keys these events opened.
        async with conn.execute(
            "INSERT INTO engagement_firsts "
            "(account_id, kind, scope, message, recipient, link, event_id, ts_ms) "
            f"SELECT account_id, '{kind}', {scope}, coalesce(message, ''), "
            f"coalesce(recipient, ''), {link}, min(id), ts_ms FROM events "
            f"WHERE {span} AND {which} "
            f"GROUP BY account_id, coalesce(message, ''), coalesce(recipient, ''), {link} "
            "ON CONFLICT DO NOTHING RETURNING event_id",
            (low, high),
        ) as cur:
            for (event_id,) in await cur.fetchall():
                firsts[event_id] = firsts.get(event_id, 0) | bit
    if firsts:
        await conn.executemany(
            "UPDATE events SET firsts = ? WHERE id = ?", [(b, i) for i, b in firsts.items()]
        )
    for table, size in ROLLUP_TABLES:
        await conn.execute(
            f"INSERT INTO {table} ({_ROLLUP_COLUMNS}) "
            f"SELECT account_id, domain, ts_ms - ts_ms % {size}, coalesce(message, ''), "
            "coalesce(link, ''), type, verdict, count(*), "
            f"sum((firsts & {FIRST_OPEN | FIRST_CLICK}) != 0), "
            f"sum((firsts & {FIRST_OPEN_ANY | FIRST_CLICK_ANY}) != 0), "
            f"sum((firsts & {FIRST_LINK}) != 0), sum((firsts & {FIRST_LINK_ANY}) != 0) "
            f"FROM events WHERE {span} GROUP BY 1, 2, 3, 4, 5, 6, 7 {_UPSERT_TAIL}",
            (low, high),
        )
    now_ms = int(time.time() * 1000)
    await conn.execute(
        "INSERT OR IGNORE INTO webhook_queue (endpoint_id, event_id, enqueued_ms) "
        "SELECT w.id, e.id, ? FROM events e JOIN webhook_endpoints w "
        "ON w.account_id = e.account_id AND w.active = 1 "
        "AND instr(w.event_types, ',' || e.type || ',') > 0 "
        "WHERE e.rowid > ? AND e.rowid <= ?",
        (now_ms, low, high),
    )
    await conn.execute("UPDATE rollup_state SET value = ? WHERE name = 'events'", (high,))
    return high - low


class Rollup:
    """Runs roll-up passes on its own connection: in the background, and on demand."""

    #: Most events one pass (one transaction) reads: keeps the write lock short.
    chunk = 2000
    #: Seconds a pass waits for the write lock.
    busy_timeout = 5.0

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._conn: aiosqlite.Connection | None = None
        self._lock = asyncio.Lock()

    async def open(self) -> None:
        if self._conn is None:
            self._conn = await aiosqlite.connect(
                self.path, timeout=self.busy_timeout, isolation_level=None
            )
            await self._conn.execute("PRAGMA synchronous=NORMAL")

    async def close(self) -> None:
        if self._conn is not None:
            await self._conn.close()
            self._conn = None

    async def run_once(self, chunk: int | None = None) -> int:
        """One pass in its own transaction; returns how many events it counted."""
        await self.open()
        assert self._conn is not None
        async with self._lock:
            # Look before taking the write lock: an idle pass must not contend with the
            # ingester (reads never wait in WAL mode).
            async with self._conn.execute("SELECT max(rowid) FROM events") as cur:
                top = (await cur.fetchone())[0] or 0
            if top <= await rolled_up_to(self._conn):
                return 0
            await self._conn.execute("BEGIN IMMEDIATE")
            try:
                counted = await roll_up_pass(self._conn, chunk or self.chunk)
            except BaseException:
                with contextlib.suppress(sqlite3.Error):
                    await self._conn.execute("ROLLBACK")
                raise
            await self._conn.execute("COMMIT")
        return counted

    async def catch_up(self, chunk: int | None = None) -> int:
        """Pass until every event stored so far is counted; returns how many were."""
        total = 0
        while counted := await self.run_once(chunk):
            total += counted
        return total


async def reclassify(conn: aiosqlite.Connection, relabels: Sequence[Relabel]) -> int:
    """Relabel stored events inside the caller's transaction; returns how many changed.

    An event not yet rolled up only changes its label. One already counted moves its counts
    to its new verdict; if it loses a counted verdict it also loses the unique keys it
    opened in scope 0, and the next counted event of the same key (if any) takes them over.
    """
    mark = await rolled_up_to(conn)
    changed = 0
    for relabel in relabels:
        async with conn.execute(
            "SELECT rowid, type, ts_ms, account_id, domain, message, recipient, link, verdict, "
            "firsts FROM events WHERE id = ?",
            (relabel.event_id,),
        ) as cur:
            row = await cur.fetchone()
        if row is None or row[8] == relabel.verdict.verdict:
            continue
        rowid, type_, ts_ms, account, domain, message, recipient, link, old, bits = row
        new = relabel.verdict.verdict
        lost = 0
        if rowid <= mark:
            if old in COUNTED_VERDICTS and new not in COUNTED_VERDICTS:
                lost = bits & COUNTED_BITS
            key = (account, domain, message or "", link or "", type_)
            await _add(conn, key, ts_ms, old, -1, bits)
            await _add(conn, key, ts_ms, new, +1, bits & ~lost)
        await conn.execute(
            "UPDATE events SET verdict = ?, rule = ?, firsts = ? WHERE id = ?",
            (new, relabel.verdict.rule, bits & ~lost, relabel.event_id),
        )
        for bit, kind in ((FIRST_OPEN, "open"), (FIRST_CLICK, "click"), (FIRST_LINK, "link")):
            if lost & bit:
                await _hand_over(conn, mark, kind, bit, account, message, recipient, link)
        changed += 1
    return changed


async def _add(
    conn: aiosqlite.Connection, key: tuple, ts_ms: int, verdict: str, sign: int, bits: int
) -> None:
    """Add (sign=+1) or remove (-1) one event with unique bits ``bits`` to both roll-ups."""
    values = (
        sign,
        sign * bool(bits & (FIRST_OPEN | FIRST_CLICK)),
        sign * bool(bits & (FIRST_OPEN_ANY | FIRST_CLICK_ANY)),
        sign * bool(bits & FIRST_LINK),
        sign * bool(bits & FIRST_LINK_ANY),
    )
    account, domain, message, link, type_ = key
    for table, size in ROLLUP_TABLES:
        await conn.execute(
            f"INSERT INTO {table} ({_ROLLUP_COLUMNS}) "
            f"VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) {_UPSERT_TAIL}",
            (account, domain, ts_ms - ts_ms % size, message, link, type_, verdict, *values),
        )


async def _hand_over(
    conn: aiosqlite.Connection,
    mark: int,
    kind: str,
    bit: int,
    account: int,
    message: str | None,
    recipient: str | None,
    link: str | None,
) -> None:
    """Give a scope-0 unique key to the next counted, rolled-up event of the key, or free it.

    Events above the mark will claim the key themselves when their pass comes.
    """
    link_key = (link or "") if kind == "link" else ""
    await conn.execute(
        "DELETE FROM engagement_firsts WHERE account_id = ? AND kind = ? AND scope = 0 "
        "AND message = ? AND recipient = ? AND link = ?",
        (account, kind, message or "", recipient or "", link_key),
    )
    # Only clicks are relabelled (edge/classify.py), and "type = 'click'" lets SQLite use
    # the partial index events_clicks_by_message.
    which = "type = 'click'" if kind != "open" else "type != 'click'"
    args: list = [account, message, recipient, mark]
    if kind == "link":
        which += " AND coalesce(link, '') = ?"
        args.append(link_key)
    async with conn.execute(
        "SELECT id, ts_ms, domain, link, type, verdict, firsts FROM events "
        "WHERE account_id = ? AND message IS ? AND recipient IS ? AND rowid <= ? "
        f"AND {which} AND verdict IN {COUNTED_SQL} ORDER BY id LIMIT 1",
        args,
    ) as cur:
        row = await cur.fetchone()
    if row is None:
        return
    event_id, ts_ms, domain, ev_link, type_, verdict, bits = row
    await conn.execute(
        "INSERT INTO engagement_firsts "
        "(account_id, kind, scope, message, recipient, link, event_id, ts_ms) "
        "VALUES (?, ?, 0, ?, ?, ?, ?, ?)",
        (account, kind, message or "", recipient or "", link_key, event_id, ts_ms),
    )
    await conn.execute("UPDATE events SET firsts = ? WHERE id = ?", (bits | bit, event_id))
    key = (account, domain, message or "", ev_link or "", type_)
    # Only the added bit changes the counts: take the event's old contribution out, put the
    # new one in.
    await _add(conn, key, ts_ms, verdict, -1, bits)
    await _add(conn, key, ts_ms, verdict, +1, bits | bit)
