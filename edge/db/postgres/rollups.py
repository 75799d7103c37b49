"""Unique keys, roll-ups and the webhook queue on PostgreSQL, for every node's events.

Each node's ingester numbers its transactions (``events.batch``) and commits them in order,
so a node's events are counted by batch number. The events are split by recipient into
:data:`PARTS` parts, and each part is counted by passes of its own: ``rollup_progress`` holds,
per node and part, the last batch counted, moved in the transaction that counts the part's
events of the batches after it. One pass per part runs at a time in the whole cluster (a
transaction-scoped advisory lock per part; a node that does not get it leaves the work to
the one that did), so every event is counted and enqueued exactly once, whichever node runs
the pass and however it is interrupted. The parts' passes run at once, each on its own
connection: a pass is one backend's work, and one backend alone fell behind the ingest.

Unlike SQLite's, the events themselves are never written by a pass: which unique keys an
event opened is read from ``engagement_keys`` (its ``any_event`` and ``counted_event``), not
from bits on the event. One statement per pass reads the part's events once and writes only
small tables; rewriting each counted event (a new row version in a partitioned table with
five indexes) cost more than the ingest itself. A key is one row carrying both scopes
(migration 8): the first event of any verdict, and the first of a counted verdict once there
is one (nearly always the same event), so a pass inserts about 1.3 rows per event where it
inserted 2.6, one per scope. A message's first clicks have no key of their own (migration
12): they are flags on the link keys holding them, so a click opens one key where it opened
two, and about 1 row is inserted per event. Every key holds one recipient, so only its own
part's passes write it; both parts add to the same roll-up rows, in one order (below).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from edge.db.postgres.connection import PostgresConnection
from edge.db.repositories.rollup_keys import (
    COUNTED_BITS,
    FIRST_CLICK,
    FIRST_CLICK_ANY,
    FIRST_KEYS,
    FIRST_LINK,
    FIRST_LINK_ANY,
    FIRST_OPEN,
    FIRST_OPEN_ANY,
    ROLLUP_COLUMNS,
    ROLLUP_KEY,
    ROLLUP_TABLES,
    UNIQUE_COLUMNS,
    unique_bits,
)
from edge.db.repositories.stats import COUNTED_SQL
from edge.model.events import COUNTED_VERDICTS, Relabel

#: Advisory lock key of part 0's roll-up pass ("roll" in ASCII), part ``n``'s is ``+ n``: one
#: pass per part at a time in the cluster.
ROLLUP_LOCK = 0x726F6C6C
#: How many parts a node's events are counted in, by passes that run at once. A power of two;
#: ``rollup_progress`` has a row per node and part (migration 9 made part 1's), so changing it
#: takes a migration.
PARTS = 2
#: How long a pass waits for a lock (ms): for the other part's pass, which adds to the same
#: roll-up rows, to commit.
PASS_LOCK_TIMEOUT_MS = 30_000


#: SQL: every part's number, as a set-returning function (``... AS s(part)``).
ALL_PARTS = f"generate_series(0, {PARTS - 1})"


def part_of(event: str) -> str:
    """SQL: the roll-up part of the event aliased ``event``, by its recipient. The hash is
    the one hash partitioning uses, kept the same across PostgreSQL versions."""
    return f"(hashtextextended(coalesce({event}.recipient, ''), 0) & {PARTS - 1})"


def progress_of(event: str) -> str:
    """SQL: the condition on ``rollup_progress p`` for the row that counts the event aliased
    ``event`` (its node's, in its part): the event is counted when its batch is at or below
    ``p.batch``."""
    return f"p.node = {event}.node AND p.part = {part_of(event)}"


_UPSERT_TAIL = (
    f"ON CONFLICT ({ROLLUP_KEY}) DO UPDATE SET events = t.events + excluded.events, "
    + ", ".join(f"{c} = t.{c} + excluded.{c}" for c, _ in UNIQUE_COLUMNS)
)
_BITS = {(kind, scope): bit for kind, scope, bit, _, _ in FIRST_KEYS}
#: Which events each kind of key is over: opens (any type but click) or clicks.
_KEY_EVENTS = "(k.kind = 'open') = (e.type <> 'click')"
_SUMS = ", ".join(
    f"count(*) FILTER (WHERE coalesce(f.bits, 0) & {mask} <> 0) AS {column}"
    for column, mask in UNIQUE_COLUMNS
)
_SUMMED = ", ".join(f"sum({column})::bigint" for column, _ in UNIQUE_COLUMNS)
(_HOURLY, _HOUR_MS), (_DAILY, _DAY_MS) = ROLLUP_TABLES
#: The part's events of a node's batches: $1 node, $2 after batch, $3 up to batch, $5 part.
_MINE = (
    "mine AS MATERIALIZED (SELECT id, ts_ms, type, account_id, domain, message, recipient, "
    "link, verdict FROM events e WHERE e.node = $1 AND e.batch > $2 AND e.batch <= $3 "
    f"AND {part_of('e')} = $5)"
)
_COUNTED_EVENT = f"e.verdict IN {COUNTED_SQL}"
_KEY = "account_id, kind, message, recipient, link"


#: What a message's link keys held before a pass (``held`` of :data:`_MESSAGE_FIRSTS`).
#: NULL: no key, the message had no click. 0: keys, none counted. 2: a key flagged
#: ``message_counted``, its counted event the message's first counted click.
#: 1 (:data:`_ORPHANED`): counted keys, none flagged. The flag, not any counted link key,
#: tells: a relabel that hands the message's first counted click over while another node's
#: pass counts the next one unseen leaves the message so, and the first counted click of
#: its links (that one) is found only after both commit. (Should retention have dropped the
#: counted events of all its links by then, none is found, and the message keeps none.)
_ORPHANED = 1
#: A message's first clicks among the part's click events (``mine``), per account, message
#: and recipient: the first of any verdict and the first counted one, and what the message
#: ``held`` before this pass. The keys before the pass are read per message by a subquery,
#: a range of the primary key: a join would be a hash join over every key (nested loops are
#: off, below). Materialized, so that the subquery runs once per message where its uses
#: would each run it.
_MESSAGE_FIRSTS = (
    "message_firsts AS MATERIALIZED (SELECT c.*, (SELECT CASE "
    "WHEN bool_or(k.message_counted) THEN 2 "
    f"WHEN bool_or(k.counted_event IS NOT NULL) THEN {_ORPHANED} WHEN count(*) > 0 THEN 0 END "
    "FROM engagement_keys k WHERE k.account_id = c.account_id AND k.recipient = c.recipient "
    "AND k.message = c.message AND k.kind = 'link') AS held "
    "FROM (SELECT e.account_id, coalesce(e.message, '') COLLATE \"C\" AS message, "
    "coalesce(e.recipient, '') COLLATE \"C\" AS recipient, "
    "min(e.id COLLATE \"C\") AS any_first, "
    f"min(e.id COLLATE \"C\") FILTER (WHERE {_COUNTED_EVENT}) AS counted_first "
    "FROM mine e WHERE e.type = 'click' GROUP BY 1, 2, 3) c)"
)
#: The pass's messages that were :data:`_ORPHANED`, as three arrays (account ids, messages,
#: recipients; NULL if none). The pass flags none of their keys: its own first counted click
#: of such a message need not be the first of its links (an earlier one may hold a link that
#: this click is on too), so :meth:`PostgresRollups._count` flags the first after the pass.
_ORPHANS = (
    "array_agg(m.account_id), array_agg(m.message), array_agg(m.recipient) "
    f"FROM message_firsts m WHERE m.held = {_ORPHANED}"
)
#: The ``FIRST_*`` bits a returned key gives its ``any_event`` and its ``counted_event``.
_ANY_BITS = (
    f"CASE kind WHEN 'open' THEN {FIRST_OPEN_ANY} "
    f"ELSE {FIRST_LINK_ANY} + CASE WHEN message_any THEN {FIRST_CLICK_ANY} ELSE 0 END END"
)
_COUNTED_BITS = (
    f"CASE kind WHEN 'open' THEN {FIRST_OPEN} "
    f"ELSE {FIRST_LINK} + CASE WHEN message_counted THEN {FIRST_CLICK} ELSE 0 END END"
)

#: One pass over a part of a node's batches ($1 node, $2 after batch, $3 up to batch, $4 now,
#: $5 part), its events read once (``mine``): the unique keys these events open, new ones
#: inserted and those that had only machines' events given their first counted one
#: (RETURNING yields only rows inserted or updated; event ids begin with their time, so the
#: first id is at the first time), a link key flagged when its event is also its message's
#: first (:data:`_MESSAGE_FIRSTS`); the bits that makes per event (a returned ``any_event``
#: of an earlier pass matches none of this pass's events); both roll-ups with those bits; and
#: the webhook queue. Every statement of the pass sees the keys as they were before it. The
#: keys are sorted and compared as their columns are, byte for byte ("C", migration 7). The
#: other part's pass adds to the same roll-up rows at the same time: both take them in key
#: order, so neither can hold a row the other waits for while it waits for one the other
#: holds (a deadlock). Returns how many events it counted.
_PASS = (
    f"WITH {_MINE}, {_MESSAGE_FIRSTS}, "
    "opened AS (INSERT INTO engagement_keys AS t "
    f"({_KEY}, any_event, any_ts_ms, counted_event, counted_ts_ms, message_any, "
    "message_counted) "
    'SELECT e.account_id, k.kind COLLATE "C", coalesce(e.message, \'\') COLLATE "C", '
    "coalesce(e.recipient, '') COLLATE \"C\", "
    "CASE WHEN k.kind = 'link' THEN coalesce(e.link, '') ELSE '' END COLLATE \"C\", "
    'min(e.id COLLATE "C"), min(e.ts_ms), '
    f'min(e.id COLLATE "C") FILTER (WHERE {_COUNTED_EVENT}), '
    f"min(e.ts_ms) FILTER (WHERE {_COUNTED_EVENT}), "
    # The message's first, if it had none, is the first of the link it clicked.
    "coalesce(bool_or(m.held IS NULL AND e.id = m.any_first), false), "
    "coalesce(bool_or(coalesce(m.held, 0) = 0 AND e.id = m.counted_first), false) "
    "FROM mine e JOIN (VALUES ('open'), ('link')) AS k(kind) "
    f"ON {_KEY_EVENTS} LEFT JOIN message_firsts m ON k.kind = 'link' "
    "AND m.account_id = e.account_id AND m.message = coalesce(e.message, '') "
    "AND m.recipient = coalesce(e.recipient, '') GROUP BY 1, 2, 3, 4, 5 "
    f"ON CONFLICT ({_KEY}) DO UPDATE "
    "SET counted_event = excluded.counted_event, counted_ts_ms = excluded.counted_ts_ms, "
    "message_counted = excluded.message_counted "
    "WHERE t.counted_event IS NULL AND excluded.counted_event IS NOT NULL "
    "RETURNING kind, any_event, counted_event, message_any, message_counted), "
    # UNION ALL, not a join to a VALUES list that the planner could only nest (enable_nestloop
    # is off, below).
    f"firsts AS (SELECT event_id, bit_or(bit) AS bits FROM (SELECT any_event AS event_id, "
    f"{_ANY_BITS} AS bit FROM opened UNION ALL SELECT counted_event, {_COUNTED_BITS} "
    "FROM opened WHERE counted_event IS NOT NULL) b GROUP BY 1), "
    # The hourly roll-up's additions, made once; the daily's are their sums (a day is whole
    # hours).
    f"hours AS (SELECT e.account_id, e.domain, e.ts_ms - e.ts_ms % {_HOUR_MS} AS bucket, "
    "coalesce(e.message, '') AS message, coalesce(e.link, '') AS link, e.type, e.verdict, "
    f"count(*) AS events, {_SUMS} FROM mine e LEFT JOIN firsts f ON f.event_id = e.id "
    "GROUP BY 1, 2, 3, 4, 5, 6, 7), "
    f"hourly AS (INSERT INTO {_HOURLY} AS t ({ROLLUP_COLUMNS}) SELECT * FROM hours "
    f"ORDER BY 1, 2, 3, 4, 5, 6, 7 {_UPSERT_TAIL}), "
    f"daily AS (INSERT INTO {_DAILY} AS t ({ROLLUP_COLUMNS}) "
    f"SELECT account_id, domain, bucket - bucket % {_DAY_MS}, message, link, type, verdict, "
    f"sum(events)::bigint, {_SUMMED} FROM hours GROUP BY 1, 2, 3, 4, 5, 6, 7 "
    f"ORDER BY 1, 2, 3, 4, 5, 6, 7 {_UPSERT_TAIL}), "
    "queued AS (INSERT INTO webhook_queue (endpoint_id, event_id, enqueued_ms) "
    "SELECT w.id, e.id, $4 FROM mine e JOIN webhook_endpoints w "
    "ON w.account_id = e.account_id AND w.active = 1 "
    "AND strpos(w.event_types, ',' || e.type || ',') > 0 ON CONFLICT DO NOTHING) "
    f"SELECT (SELECT count(*) FROM mine), {_ORPHANS}"
)
#: What a hand-over reads of the event that takes a key over (aliased ``e``).
_HOLDER = "e.id, e.ts_ms, e.account_id, e.domain, e.message, e.link, e.type, e.verdict"
#: Events already counted: at or below their node's progress in their part.
_COUNTED = f"batch <= coalesce((SELECT p.batch FROM rollup_progress p WHERE {progress_of('e')}), 0)"

_Key = tuple[int, str, str, str, str]


class PostgresRollups:
    def __init__(self, conn: PostgresConnection, node: str) -> None:
        self.conn = conn
        self.node = node

    #: Passes that may run at once, one per part, each in a transaction of its own.
    parts = PARTS

    async def pending(self) -> bool:
        row = await self.conn.fetchone(
            "SELECT EXISTS (SELECT 1 FROM ingest_batches b "
            f"CROSS JOIN {ALL_PARTS} AS s(part) LEFT JOIN rollup_progress p "
            "ON p.node = b.node AND p.part = s.part WHERE b.batch > coalesce(p.batch, 0))"
        )
        return bool(row and row[0])

    async def count_next(self, chunk: int, *, now_ms: int, part: int = 0) -> int:
        """Count ``part``'s events of the next batches of every node, about ``chunk`` events
        of the batches in all (at least one batch), inside the caller's transaction; returns
        how many it counted: 0 if another node's pass of the part is running."""
        got = await self.conn.fetchone("SELECT pg_try_advisory_xact_lock(?)", (ROLLUP_LOCK + part,))
        if not got or not got[0]:
            return 0
        behind = await self.conn.fetchall(
            "SELECT b.node, coalesce(p.batch, 0), b.batch FROM ingest_batches b "
            "LEFT JOIN rollup_progress p ON p.node = b.node AND p.part = ? "
            "WHERE b.batch > coalesce(p.batch, 0) ORDER BY b.node",
            (part,),
        )
        counted = in_batches = 0
        for node, low, top in behind:
            high, events = await self._span(node, low, top, chunk - in_batches)
            counted += await self._count(node, low, high, now_ms, part)
            await self.conn.execute(
                "INSERT INTO rollup_progress (node, part, batch) VALUES (?, ?, ?) "
                "ON CONFLICT (node, part) DO UPDATE SET batch = excluded.batch",
                (node, part, high),
            )
            in_batches += events
            if in_batches >= chunk:
                break
        return counted

    async def _span(self, node: str, low: int, top: int, budget: int) -> tuple[int, int]:
        """The last of ``node``'s batches after ``low`` (up to ``top``) that a pass takes, and
        their events: about ``budget`` events, at least one batch. The batches are sized a
        few at a time, more each time: sizing every batch behind on every pass made catching
        up on a long backlog quadratic (seen: a third of the passes' time at 60 batches)."""
        high, events, seen, window = low, 0, low, 4
        while seen < top:
            upto = min(top, seen + window)
            for batch, n in await self.conn.fetchall(
                "SELECT batch, count(*) FROM events WHERE node = ? AND batch > ? AND batch <= ? "
                "GROUP BY batch ORDER BY batch",
                (node, seen, upto),
            ):
                if events and events + n > budget:
                    return high, events
                high, events = batch, events + n
            seen, window = upto, window * 2
        # Every batch up to the top fits, those whose events were pruned already too.
        return top, events

    async def _count(self, node: str, low: int, high: int, now_ms: int, part: int) -> int:
        # A day's partition has no statistics until autovacuum analyses it: the planner then
        # takes a batch for a row or two and joins the pass's events to their keys in a
        # nested loop (5,000 x 5,000 comparisons a batch, seen: 10x slower). A hash join is
        # right at every size here. For the same reason it groups by hashing where sorting
        # is not asked for (a pass's 5,000 events: 160 ms by sorting, 145 by hashing). A plan
        # that cannot do without a disabled step is costed past the JIT threshold, and
        # compiling it took seconds (seen in a trial, 1,600 events/s); the pass has no use
        # for JIT. With those switches the plan is the same whatever the batches, so it is
        # made once per connection (planning took 3 ms of a 50 ms pass). The other part's
        # pass holds the roll-up rows it added to until it commits: waiting for it is
        # normal, so not bound by the ingester's short lock timeout. SET LOCAL ends with the
        # pass's transaction.
        await self.conn.raw.execute(
            "SET LOCAL enable_nestloop = off; SET LOCAL enable_sort = off; SET LOCAL jit = off; "
            "SET LOCAL plan_cache_mode = force_generic_plan; "
            f"SET LOCAL lock_timeout = {PASS_LOCK_TIMEOUT_MS}"
        )
        counted, accounts, messages, recipients = await self.conn.raw.fetchrow(
            _PASS, node, low, high, now_ms, part
        )
        # Rare: only after a relabel's hand-over raced another node's pass (_ORPHANED).
        orphans = zip(accounts or (), messages or (), recipients or (), strict=True)
        for account, message, recipient in orphans:
            # A relabel on another node may have given it one since.
            if not await self._holds_message_click(account, message, recipient):
                await self._give_message_click(account, message, recipient)
        return int(counted)

    async def _keys_of(
        self, event_id: str, account: int, message: str | None, recipient: str | None,
        link: str | None,
    ) -> int:  # fmt: skip
        """The ``FIRST_*`` bits of the unique keys ``event_id`` holds (found by their keys:
        the primary key's columns, so an index lookup), its message's first clicks among
        them."""
        rows = await self.conn.fetchall(
            "SELECT kind, any_event = ?, counted_event IS NOT DISTINCT FROM ?, message_any, "
            "message_counted FROM engagement_keys WHERE account_id = ? AND recipient = ? "
            "AND message = ? AND kind IN ('open', 'link') AND link IN ('', ?) "
            "AND (any_event = ? OR counted_event = ?)",
            (event_id, event_id, account, recipient or "", message or "", link or "",
             event_id, event_id),
        )  # fmt: skip
        bits = 0
        for kind, any_, counted, message_any, message_counted in rows:
            if any_:
                bits |= _BITS[(kind, 1)] | (FIRST_CLICK_ANY if message_any else 0)
            if counted:
                bits |= _BITS[(kind, 0)] | (FIRST_CLICK if message_counted else 0)
        return bits

    async def reclassify(self, relabels: Sequence[Relabel]) -> int:
        """Relabel stored events, moving their counts (as the SQLite engine's does: an event
        not counted yet only changes its label; a counted one that loses a counted verdict
        hands its scope-0 unique keys to the next counted event of its key)."""
        changed = 0
        for relabel in relabels:
            row = await self.conn.fetchone(
                f"SELECT ts_ms, type, account_id, domain, message, recipient, link, verdict, "
                f"({_COUNTED}) FROM events e WHERE id = ?",
                (relabel.event_id,),
            )
            if row is None or row[7] == relabel.verdict.verdict:
                continue
            ts_ms, type_, account, domain, message, recipient, link, old, counted = row
            new = relabel.verdict.verdict
            lost = 0
            if counted:
                bits = await self._keys_of(relabel.event_id, account, message, recipient, link)
                if old in COUNTED_VERDICTS and new not in COUNTED_VERDICTS:
                    lost = bits & COUNTED_BITS
                key = (account, domain, message or "", link or "", type_)
                await self._add(key, ts_ms, old, -1, bits)
                await self._add(key, ts_ms, new, +1, bits & ~lost)
            # The keys it loses go with their rows, in the hand-over below.
            await self.conn.execute(
                "UPDATE events SET verdict = ?, rule = ? WHERE id = ? AND ts_ms = ?",
                (new, relabel.verdict.rule, relabel.event_id, ts_ms),
            )
            for bit, kind in ((FIRST_OPEN, "open"), (FIRST_LINK, "link")):
                if lost & bit:
                    await self._hand_over(kind, bit, account, message, recipient, link)
            if lost & FIRST_CLICK:  # after its link's: the next holder may be the same event
                await self._hand_over_message_click(account, message or "", recipient or "")
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
        """Give the counted (scope 0) key of ``kind`` ('open' or 'link') to the next counted
        event of its key, or to none: the event that held it is no longer counted."""
        link_key = (link or "") if kind == "link" else ""
        which = "type != 'click'"
        args: list[object] = [account, message, recipient]
        if kind == "link":
            which = "type = 'click' AND coalesce(link, '') = ?"
            args.append(link_key)
        row = await self.conn.fetchone(
            f"SELECT {_HOLDER} FROM events e "
            "WHERE account_id = ? AND message IS NOT DISTINCT FROM ? "
            f"AND recipient IS NOT DISTINCT FROM ? AND {which} AND {_COUNTED} "
            f"AND verdict IN {COUNTED_SQL} ORDER BY id LIMIT 1",
            args,
        )
        event_id, ts_ms = (row[0], row[1]) if row is not None else (None, None)
        if row is not None:  # its keys before it takes this one
            bits = await self._keys_of(row[0], account, message, recipient, link_key)
        # With no next event, the key has no counted event until a pass finds one.
        await self.conn.execute(
            "UPDATE engagement_keys SET counted_event = ?, counted_ts_ms = ? "
            "WHERE account_id = ? AND recipient = ? AND message = ? AND kind = ? AND link = ?",
            (event_id, ts_ms, account, recipient or "", message or "", kind, link_key),
        )
        if row is not None:
            await self._move(row, bits, bit)

    async def _hand_over_message_click(self, account: int, message: str, recipient: str) -> None:
        """Give the message's first counted click to the first counted click of its links,
        or to none: the event that held it is no longer counted. Its links' keys have been
        handed over already, so each holds its link's first counted click."""
        await self.conn.execute(
            "UPDATE engagement_keys SET message_counted = false WHERE account_id = ? "
            "AND recipient = ? AND message = ? AND kind = 'link' AND message_counted",
            (account, recipient, message),
        )
        await self._give_message_click(account, message, recipient)

    async def _holds_message_click(self, account: int, message: str, recipient: str) -> bool:
        """Whether a link key of the message is flagged as holding its first counted click."""
        row = await self.conn.fetchone(
            "SELECT 1 FROM engagement_keys WHERE account_id = ? AND recipient = ? "
            "AND message = ? AND kind = 'link' AND message_counted LIMIT 1",
            (account, recipient, message),
        )
        return row is not None

    async def _give_message_click(self, account: int, message: str, recipient: str) -> None:
        """Flag the link key whose counted event (one still stored) is the first of the
        message's links', and count that event as its message's first counted click too;
        nothing if there is none. None of the message's keys is flagged when this is called."""
        # Of an event still stored (retention drops old events and keeps their keys): the
        # roll-ups it moves are those of the event's hour and link.
        row = await self.conn.fetchone(
            f"SELECT {_HOLDER} FROM engagement_keys k JOIN events e ON e.id = k.counted_event "
            "AND e.ts_ms = k.counted_ts_ms WHERE k.account_id = ? AND k.recipient = ? "
            "AND k.message = ? AND k.kind = 'link' ORDER BY k.counted_event LIMIT 1",
            (account, recipient, message),
        )
        if row is None:  # none until a pass finds one
            return
        link = row[5] or ""
        bits = await self._keys_of(row[0], account, message, recipient, link)
        await self.conn.execute(
            "UPDATE engagement_keys SET message_counted = true WHERE account_id = ? "
            "AND recipient = ? AND message = ? AND kind = 'link' AND link = ?",
            (account, recipient, message, link),
        )
        await self._move(row, bits, FIRST_CLICK)

    async def _move(self, holder: Sequence[Any], bits: int, bit: int) -> None:
        """Count the event of ``holder`` (a row of :data:`_HOLDER`), which held the keys of
        ``bits``, as holding ``bit`` too."""
        _, ts_ms, account, domain, message, link, type_, verdict = holder
        rollup_key = (account, domain, message or "", link or "", type_)
        await self._add(rollup_key, ts_ms, verdict, -1, bits)
        await self._add(rollup_key, ts_ms, verdict, +1, bits | bit)
