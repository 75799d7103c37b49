"""Unique keys, roll-ups and the webhook queue, kept behind the ingester, on SQLite.

A pass reads the events stored since the last one (``rowid`` above the mark in
``rollup_state``: SQLite hands out rowids in commit order, one writer at a time) and, in one
transaction with moving the mark:

- claims the unique keys those events open in ``engagement_firsts`` and marks the events
  (``events.firsts``, the ``FIRST_*`` bits);
- adds the events to the hourly and daily roll-ups;
- enqueues them for the account's webhook endpoints.

Because the mark moves in the same transaction, every stored event is counted and enqueued
exactly once, whichever process runs the pass and however it is interrupted. Each pass is a
handful of set-based statements over at most ``chunk`` events, so it holds the write lock
briefly.

A unique open (click) is counted once per message and recipient reference, at the time of
the first counted event of that key: the roll-ups of any range add up to the number of
recipients who opened (clicked) for the first time in it. Scope 0 keys count people only
(the counted verdicts); scope 1 keys count every verdict (for ``include_machine``).
"""

from __future__ import annotations

from collections.abc import Sequence

from edge.db.connection import Connection
from edge.db.repositories.rollup_keys import (
    COUNTED_BITS,
    FIRST_CLICK,
    FIRST_KEYS,
    FIRST_LINK,
    FIRST_OPEN,
    ROLLUP_COLUMNS,
    ROLLUP_TABLES,
    UNIQUE_COLUMNS,
    unique_bits,
)
from edge.db.repositories.stats import COUNTED_SQL
from edge.model.events import COUNTED_VERDICTS, Relabel

_UPSERT_TAIL = "ON CONFLICT DO UPDATE SET events = events + excluded.events, " + ", ".join(
    f"{c} = {c} + excluded.{c}" for c, _ in UNIQUE_COLUMNS
)
_SUMS = ", ".join(f"sum((firsts & {mask}) != 0)" for _, mask in UNIQUE_COLUMNS)


#: A roll-up row's key: account, domain, message, link, type.
_Key = tuple[int, str, str, str, str]


class SQLiteRollups:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    async def mark(self) -> int:
        """The rowid up to which events have been counted."""
        row = await self.conn.fetchone("SELECT value FROM rollup_state WHERE name = 'events'")
        return int(row[0]) if row is not None else 0

    async def events_deleted(self) -> None:
        """Events were deleted (an erasure, retention). SQLite gives a new row the rowid after
        the largest left (``events`` has no AUTOINCREMENT): with the newest events gone, the
        next ones would be at or below the mark and never counted. Every event left at or
        below the mark was counted: the mark comes down to the largest rowid left."""
        await self.conn.execute(
            "UPDATE rollup_state SET value = min(value, "
            "(SELECT coalesce(max(rowid), 0) FROM events)) WHERE name = 'events'"
        )

    async def _top(self) -> int:
        row = await self.conn.fetchone("SELECT max(rowid) FROM events")
        return int(row[0] or 0) if row is not None else 0

    #: One part: SQLite has one writer at a time.
    parts = 1

    async def pending(self) -> bool:
        """Whether events are stored that no pass has counted yet."""
        return await self._top() > await self.mark()

    async def count_next(self, chunk: int, *, now_ms: int, part: int = 0) -> int:
        """Count up to ``chunk`` new events (inside the caller's transaction); returns how
        many were counted."""
        low = await self.mark()
        high = min(await self._top(), low + chunk)
        if high <= low:
            return 0
        span = "rowid > ? AND rowid <= ?"
        firsts: dict[str, int] = {}
        for kind, scope, bit, which, link in FIRST_KEYS:
            # RETURNING yields only rows actually inserted: the keys these events opened.
            rows = await self.conn.fetchall(
                "INSERT INTO engagement_firsts "
                "(account_id, kind, scope, message, recipient, link, event_id, ts_ms) "
                f"SELECT account_id, '{kind}', {scope}, coalesce(message, ''), "
                f"coalesce(recipient, ''), {link}, min(id), ts_ms FROM events "
                f"WHERE {span} AND {which} "
                f"GROUP BY account_id, coalesce(message, ''), coalesce(recipient, ''), {link} "
                "ON CONFLICT DO NOTHING RETURNING event_id",
                (low, high),
            )
            for (event_id,) in rows:
                firsts[event_id] = firsts.get(event_id, 0) | bit
        if firsts:
            await self.conn.executemany(
                "UPDATE events SET firsts = ? WHERE id = ?", [(b, i) for i, b in firsts.items()]
            )
        for table, size in ROLLUP_TABLES:
            await self.conn.execute(
                f"INSERT INTO {table} ({ROLLUP_COLUMNS}) "
                f"SELECT account_id, domain, ts_ms - ts_ms % {size}, coalesce(message, ''), "
                f"coalesce(link, ''), type, verdict, count(*), {_SUMS} "
                f"FROM events WHERE {span} GROUP BY 1, 2, 3, 4, 5, 6, 7 {_UPSERT_TAIL}",
                (low, high),
            )
        await self.conn.execute(
            "INSERT OR IGNORE INTO webhook_queue (endpoint_id, event_id, enqueued_ms) "
            "SELECT w.id, e.id, ? FROM events e JOIN webhook_endpoints w "
            "ON w.account_id = e.account_id AND w.active = 1 "
            "AND instr(w.event_types, ',' || e.type || ',') > 0 "
            "WHERE e.rowid > ? AND e.rowid <= ?",
            (now_ms, low, high),
        )
        await self.conn.execute("UPDATE rollup_state SET value = ? WHERE name = 'events'", (high,))
        return high - low

    async def reclassify(self, relabels: Sequence[Relabel]) -> int:
        """Relabel stored events inside the caller's transaction; returns how many changed.

        An event not yet rolled up only changes its label. One already counted moves its
        counts to its new verdict; if it loses a counted verdict it also loses the unique keys
        it opened in scope 0, and the next counted event of the same key (if any) takes them
        over.
        """
        mark = await self.mark()
        changed = 0
        for relabel in relabels:
            row = await self.conn.fetchone(
                "SELECT rowid, type, ts_ms, account_id, domain, message, recipient, link, "
                "verdict, firsts FROM events WHERE id = ?",
                (relabel.event_id,),
            )
            if row is None or row[8] == relabel.verdict.verdict:
                continue
            rowid, type_, ts_ms, account, domain, message, recipient, link, old, bits = row
            new = relabel.verdict.verdict
            lost = 0
            if rowid <= mark:
                if old in COUNTED_VERDICTS and new not in COUNTED_VERDICTS:
                    lost = bits & COUNTED_BITS
                key = (account, domain, message or "", link or "", type_)
                await self._add(key, ts_ms, old, -1, bits)
                await self._add(key, ts_ms, new, +1, bits & ~lost)
            await self.conn.execute(
                "UPDATE events SET verdict = ?, rule = ?, firsts = ? WHERE id = ?",
                (new, relabel.verdict.rule, bits & ~lost, relabel.event_id),
            )
            for bit, kind in ((FIRST_OPEN, "open"), (FIRST_CLICK, "click"), (FIRST_LINK, "link")):
                if lost & bit:
                    await self._hand_over(mark, kind, bit, account, message, recipient, link)
            changed += 1
        return changed

    async def _add(self, key: _Key, ts_ms: int, verdict: str, sign: int, bits: int) -> None:
        """Add (sign=+1) or remove (-1) one event with unique bits ``bits`` to both roll-ups."""
        values = (sign, *unique_bits(bits, sign))
        account, domain, message, link, type_ = key
        for table, size in ROLLUP_TABLES:
            await self.conn.execute(
                f"INSERT INTO {table} ({ROLLUP_COLUMNS}) "
                f"VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) {_UPSERT_TAIL}",
                (account, domain, ts_ms - ts_ms % size, message, link, type_, verdict, *values),
            )

    async def _hand_over(
        self,
        mark: int,
        kind: str,
        bit: int,
        account: int,
        message: str | None,
        recipient: str | None,
        link: str | None,
    ) -> None:
        """Give a scope-0 unique key to the next counted, rolled-up event of the key, or free
        it. Events above the mark will claim the key themselves when their pass comes."""
        link_key = (link or "") if kind == "link" else ""
        await self.conn.execute(
            "DELETE FROM engagement_firsts WHERE account_id = ? AND kind = ? AND scope = 0 "
            "AND message = ? AND recipient = ? AND link = ?",
            (account, kind, message or "", recipient or "", link_key),
        )
        # Only clicks are relabelled (edge/events/classify.py), and "type = 'click'" lets
        # SQLite use the partial index events_clicks_by_message.
        which = "type = 'click'" if kind != "open" else "type != 'click'"
        args: list[object] = [account, message, recipient, mark]
        if kind == "link":
            which += " AND coalesce(link, '') = ?"
            args.append(link_key)
        row = await self.conn.fetchone(
            "SELECT id, ts_ms, domain, link, type, verdict, firsts FROM events "
            "WHERE account_id = ? AND message IS ? AND recipient IS ? AND rowid <= ? "
            f"AND {which} AND verdict IN {COUNTED_SQL} ORDER BY id LIMIT 1",
            args,
        )
        if row is None:
            return
        event_id, ts_ms, domain, ev_link, type_, verdict, bits = row
        await self.conn.execute(
            "INSERT INTO engagement_firsts "
            "(account_id, kind, scope, message, recipient, link, event_id, ts_ms) "
            "VALUES (?, ?, 0, ?, ?, ?, ?, ?)",
            (account, kind, message or "", recipient or "", link_key, event_id, ts_ms),
        )
        await self.conn.execute("UPDATE events SET firsts = ? WHERE id = ?", (bits | bit, event_id))
        key = (account, domain, message or "", ev_link or "", type_)
        # Only the added bit changes the counts: take the event's old contribution out, put
        # the new one in.
        await self._add(key, ts_ms, verdict, -1, bits)
        await self._add(key, ts_ms, verdict, +1, bits | bit)
