"""Unique keys, roll-ups and the webhook queue on PostgreSQL, for every node's events.

Each node's ingester numbers its transactions (``events.batch``) and commits them in order,
so a node's events are counted by batch number: ``rollup_progress`` holds, per node, the
last batch counted, moved in the transaction that counts the batches after it. One pass
runs at a time in the whole cluster (a transaction-scoped advisory lock; a node that does
not get it leaves the work to the one that did), so every event is counted and enqueued
exactly once, whichever node runs the pass and however it is interrupted.
"""

from __future__ import annotations

from collections.abc import Sequence

from edge.db.postgres.connection import PostgresConnection
from edge.db.repositories.rollup_keys import (
    COUNTED_BITS,
    FIRST_CLICK,
    FIRST_KEYS,
    FIRST_LINK,
    FIRST_OPEN,
    ROLLUP_COLUMNS,
    ROLLUP_KEY,
    ROLLUP_TABLES,
    UNIQUE_COLUMNS,
    unique_bits,
)
from edge.db.repositories.stats import COUNTED_SQL
from edge.model.events import COUNTED_VERDICTS, Relabel

#: Advisory lock key of the roll-up pass ("roll" in ASCII): one pass at a time per cluster.
ROLLUP_LOCK = 0x726F6C6C

_UPSERT_TAIL = (
    f"ON CONFLICT ({ROLLUP_KEY}) DO UPDATE SET events = t.events + excluded.events, "
    + ", ".join(f"{c} = t.{c} + excluded.{c}" for c, _ in UNIQUE_COLUMNS)
)
_SUMS = ", ".join(f"count(*) FILTER (WHERE firsts & {mask} <> 0)" for _, mask in UNIQUE_COLUMNS)
#: Events already counted: at or below their node's progress.
_COUNTED = "batch <= coalesce((SELECT p.batch FROM rollup_progress p WHERE p.node = e.node), 0)"

_Key = tuple[int, str, str, str, str]


class PostgresRollups:
    def __init__(self, conn: PostgresConnection, node: str) -> None:
        self.conn = conn
        self.node = node

    async def pending(self) -> bool:
        row = await self.conn.fetchone(
            "SELECT EXISTS (SELECT 1 FROM ingest_batches b LEFT JOIN rollup_progress p "
            "ON p.node = b.node WHERE b.batch > coalesce(p.batch, 0))"
        )
        return bool(row and row[0])

    async def count_next(self, chunk: int, *, now_ms: int) -> int:
        """Count the next batches of every node, about ``chunk`` events in all (at least
        one batch), inside the caller's transaction; 0 if another node's pass is running."""
        got = await self.conn.fetchone("SELECT pg_try_advisory_xact_lock(?)", (ROLLUP_LOCK,))
        if not got or not got[0]:
            return 0
        behind = await self.conn.fetchall(
            "SELECT b.node, coalesce(p.batch, 0), b.batch FROM ingest_batches b "
            "LEFT JOIN rollup_progress p ON p.node = b.node "
            "WHERE b.batch > coalesce(p.batch, 0) ORDER BY b.node"
        )
        counted = 0
        for node, low, top in behind:
            sizes = await self.conn.fetchall(
                "SELECT batch, count(*) FROM events WHERE node = ? AND batch > ? AND batch <= ? "
                "GROUP BY batch ORDER BY batch",
                (node, low, top),
            )
            high, events = low, 0
            for batch, n in sizes:
                if events and events + n > chunk - counted:
                    break
                high, events = batch, events + n
            if not sizes:  # the batches' events were pruned already: nothing to count
                high = top
            await self._count(node, low, high, now_ms)
            await self.conn.execute(
                "INSERT INTO rollup_progress (node, batch) VALUES (?, ?) "
                "ON CONFLICT (node) DO UPDATE SET batch = excluded.batch",
                (node, high),
            )
            counted += events
            if counted >= chunk:
                break
        return counted

    async def _count(self, node: str, low: int, high: int, now_ms: int) -> None:
        span = "node = ? AND batch > ? AND batch <= ?"
        args = (node, low, high)
        firsts: dict[tuple[str, int], int] = {}
        for kind, scope, bit, which, link in FIRST_KEYS:
            # RETURNING yields only rows actually inserted: the keys these events opened.
            # Event ids begin with their time, so the first id is at the first time. A
            # constant link ('') is not grouped by: PostgreSQL refuses a literal in GROUP BY.
            by_link = "" if link == "''" else f", {link}"
            rows = await self.conn.fetchall(
                "INSERT INTO engagement_firsts "
                "(account_id, kind, scope, message, recipient, link, event_id, ts_ms) "
                f"SELECT account_id, '{kind}', {scope}, coalesce(message, ''), "
                f"coalesce(recipient, ''), {link}, min(id), min(ts_ms) FROM events "
                f"WHERE {span} AND {which} "
                f"GROUP BY account_id, coalesce(message, ''), coalesce(recipient, ''){by_link} "
                "ON CONFLICT DO NOTHING RETURNING event_id, ts_ms",
                args,
            )
            for event_id, ts_ms in rows:
                firsts[(event_id, ts_ms)] = firsts.get((event_id, ts_ms), 0) | bit
        if firsts:
            await self.conn.raw.execute(
                "UPDATE events SET firsts = v.bits FROM unnest($1::text[], $2::bigint[], "
                "$3::int[]) AS v(id, ts_ms, bits) WHERE events.id = v.id "
                "AND events.ts_ms = v.ts_ms",
                [k[0] for k in firsts],
                [k[1] for k in firsts],
                list(firsts.values()),
            )
        for table, size in ROLLUP_TABLES:
            await self.conn.execute(
                f"INSERT INTO {table} AS t ({ROLLUP_COLUMNS}) "
                f"SELECT account_id, domain, ts_ms - ts_ms % {size}, coalesce(message, ''), "
                f"coalesce(link, ''), type, verdict, count(*), {_SUMS} "
                f"FROM events WHERE {span} GROUP BY 1, 2, 3, 4, 5, 6, 7 {_UPSERT_TAIL}",
                args,
            )
        await self.conn.execute(
            "INSERT INTO webhook_queue (endpoint_id, event_id, enqueued_ms) "
            "SELECT w.id, e.id, ? FROM events e JOIN webhook_endpoints w "
            "ON w.account_id = e.account_id AND w.active = 1 "
            "AND strpos(w.event_types, ',' || e.type || ',') > 0 "
            "WHERE e.node = ? AND e.batch > ? AND e.batch <= ? ON CONFLICT DO NOTHING",
            (now_ms, *args),
        )

    async def reclassify(self, relabels: Sequence[Relabel]) -> int:
        """Relabel stored events, moving their counts (as the SQLite engine's does: an event
        not counted yet only changes its label; a counted one that loses a counted verdict
        hands its scope-0 unique keys to the next counted event of its key)."""
        changed = 0
        for relabel in relabels:
            row = await self.conn.fetchone(
                f"SELECT ts_ms, type, account_id, domain, message, recipient, link, verdict, "
                f"firsts, ({_COUNTED}) FROM events e WHERE id = ?",
                (relabel.event_id,),
            )
            if row is None or row[7] == relabel.verdict.verdict:
                continue
            ts_ms, type_, account, domain, message, recipient, link, old, bits, counted = row
            new = relabel.verdict.verdict
            lost = 0
            if counted:
                if old in COUNTED_VERDICTS and new not in COUNTED_VERDICTS:
                    lost = bits & COUNTED_BITS
                key = (account, domain, message or "", link or "", type_)
                await self._add(key, ts_ms, old, -1, bits)
                await self._add(key, ts_ms, new, +1, bits & ~lost)
            await self.conn.execute(
                "UPDATE events SET verdict = ?, rule = ?, firsts = ? WHERE id = ? AND ts_ms = ?",
                (new, relabel.verdict.rule, bits & ~lost, relabel.event_id, ts_ms),
            )
            for bit, kind in ((FIRST_OPEN, "open"), (FIRST_CLICK, "click"), (FIRST_LINK, "link")):
                if lost & bit:
                    await self._hand_over(kind, bit, account, message, recipient, link)
            changed += 1
        return changed

    async def _add(self, key: _Key, ts_ms: int, verdict: str, sign: int, bits: int) -> None:
        values = (sign, *unique_bits(bits, sign))
        account, domain, message, link, type_ = key
        for table, size in ROLLUP_TABLES:
            await self.conn.execute(
                f"INSERT INTO {table} AS t ({ROLLUP_COLUMNS}) "
                f"VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) {_UPSERT_TAIL}",
                (account, domain, ts_ms - ts_ms % size, message, link, type_, verdict, *values),
            )

    async def _hand_over(
        self,
        kind: str,
        bit: int,
        account: int,
        message: str | None,
        recipient: str | None,
        link: str | None,
    ) -> None:
        link_key = (link or "") if kind == "link" else ""
        await self.conn.execute(
            "DELETE FROM engagement_firsts WHERE account_id = ? AND kind = ? AND scope = 0 "
            "AND message = ? AND recipient = ? AND link = ?",
            (account, kind, message or "", recipient or "", link_key),
        )
        which = "type = 'click'" if kind != "open" else "type != 'click'"
        args: list[object] = [account, message, recipient]
        if kind == "link":
            which += " AND coalesce(link, '') = ?"
            args.append(link_key)
        row = await self.conn.fetchone(
            "SELECT id, ts_ms, domain, link, type, verdict, firsts FROM events e "
            "WHERE account_id = ? AND message IS NOT DISTINCT FROM ? "
            f"AND recipient IS NOT DISTINCT FROM ? AND {which} AND {_COUNTED} "
            f"AND verdict IN {COUNTED_SQL} ORDER BY id LIMIT 1",
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
        await self.conn.execute(
            "UPDATE events SET firsts = ? WHERE id = ? AND ts_ms = ?", (bits | bit, event_id, ts_ms)
        )
        key = (account, domain, message or "", ev_link or "", type_)
        await self._add(key, ts_ms, verdict, -1, bits)
        await self._add(key, ts_ms, verdict, +1, bits | bit)
