"""``tracking-edge db migrate-to``: one machine's SQLite installation into a cluster's PostgreSQL.

Every table is copied, in one PostgreSQL transaction, so an interrupted run leaves nothing
behind and the next run starts over; a run over a database already holding the rows skips
them (``ON CONFLICT DO NOTHING``) and copies what is new. The events come over as this node's
(``EDGE_NODE_ID``): those the SQLite roll-up already counted as batches marked counted (their
counts come over with the roll-ups), the rest as batches the cluster's roll-up will count.
Afterwards each table's rows are counted on both sides; a table with fewer rows in PostgreSQL
than in SQLite fails the transfer.

Run it with the SQLite node stopped: what it records meanwhile is not carried over.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg

from edge.db.postgres.migrate import migrate as migrate_postgres
from edge.db.postgres.rollups import ALL_PARTS
from edge.db.sqlite.migrate import migrate as migrate_sqlite

#: Tables copied, in an order their foreign keys allow, with their keys: as they are, but
#: for the unique keys (:func:`_copy_keys`).
TABLES: tuple[tuple[str, str], ...] = (
    ("accounts", "id"),
    ("api_keys", "id"),
    ("tracking_domains", "id"),
    ("blocked_names", "domain"),
    ("sending_domains", "id"),
    ("certificates", "domain"),
    ("acme_challenges", "token"),
    ("certificate_jobs", "domain"),
    ("account_settings", "account_id"),
    ("message_labels", "account_id, kind, label, message"),
    ("webhook_endpoints", "id"),
    ("engagement_firsts", "account_id, kind, scope, message, recipient, link"),
    ("rollups_hourly", "account_id, domain, bucket, message, link, type, verdict"),
    ("rollups_daily", "account_id, domain, bucket, message, link, type, verdict"),
    ("erased_recipients", "account_id, digest"),
    ("signing_keys", "position"),
)
#: What a row the cluster holds already under the same key becomes, by table (else it is kept).
#: An account the cluster had before the copy with the same name and no tracking domain yet
#: (the default account every schema starts with) takes this installation's CNAME target
#: label: the CNAMEs its customers set name it, and the re-check would withdraw their domains.
ON_CONFLICT = {
    "accounts": "DO UPDATE SET cname_label = excluded.cname_label "
    "WHERE accounts.name = excluded.name AND NOT EXISTS "
    "(SELECT 1 FROM tracking_domains t WHERE t.account_id = accounts.id)",
}
#: Tables whose ids PostgreSQL hands out from an identity: moved past the copied ids.
IDENTITIES = ("accounts", "api_keys", "tracking_domains", "sending_domains", "webhook_endpoints")
#: Events per COPY.
CHUNK = 50_000


class TransferError(Exception):
    """The copy could not be verified; nothing was committed."""


@dataclass(frozen=True)
class TableCount:
    table: str
    source: int
    target: int


def _rows(conn: sqlite3.Connection, sql: str, args: Sequence[Any] = ()) -> Iterator[list[Any]]:
    cur = conn.execute(sql, args)
    while batch := cur.fetchmany(CHUNK):
        yield [list(r) for r in batch]


async def transfer(
    sqlite_path: Path,
    url: str,
    node: str,
    *,
    secret_keys: Sequence[str] = (),
    progress: Callable[[str], None] = lambda line: None,
) -> list[TableCount]:
    """Copy the SQLite database at ``sqlite_path`` into the PostgreSQL database at ``url``.

    ``secret_keys``: the generated signing secret of the installation (``<data
    dir>/secret_keys``), carried over so that links already sent keep verifying; the
    database's own ``signing_keys`` rows win when both exist.
    """
    migrate_sqlite(sqlite_path)
    source = sqlite3.connect(sqlite_path)
    target = await asyncpg.connect(url)
    try:
        await migrate_postgres(target)
        async with target.transaction():
            moves = []
            for table, key in TABLES:
                if table == "engagement_firsts":
                    moves = await _copy_keys(source, target)
                else:
                    await _copy_table(source, target, table, key)
                progress(f"{table} copied")
            for position, secret in enumerate(secret_keys):
                await target.execute(
                    "INSERT INTO signing_keys (position, secret) VALUES ($1, $2) "
                    "ON CONFLICT DO NOTHING",
                    position,
                    secret,
                )
            for table in IDENTITIES:
                await target.execute(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                    f"greatest((SELECT max(id) FROM {table}), 1))"
                )
            events = await _copy_events(source, target, node)
            progress(f"events copied ({events:,} new)")
            # With the roll-ups and the events there (a move looks both events up).
            await target.executemany("SELECT move_message_click($1, $2, $3, $4)", moves)
            await _copy_queue(source, target)
            counts = await _verify(source, target)
        return counts
    finally:
        source.close()
        await target.close()


async def _columns(target: asyncpg.Connection, table: str) -> list[str]:
    rows = await target.fetch(
        "SELECT column_name FROM information_schema.columns WHERE table_name = $1 "
        "AND table_schema = current_schema() ORDER BY ordinal_position",
        table,
    )
    return [r[0] for r in rows]


async def _copy_table(
    source: sqlite3.Connection, target: asyncpg.Connection, table: str, key: str
) -> None:
    columns = await _columns(target, table)
    names = ", ".join(columns)
    marks = ", ".join(f"${n}" for n in range(1, len(columns) + 1))
    conflict = ON_CONFLICT.get(table, "DO NOTHING")
    insert = f"INSERT INTO {table} ({names}) VALUES ({marks}) ON CONFLICT ({key}) {conflict}"
    for rows in _rows(source, f"SELECT {names} FROM {table}"):
        await target.executemany(insert, rows)


#: A message's first clicks, per account, message and recipient (SQLite's ``click`` keys in
#: ``message_clicks``), flagged on the link key holding each, or, should none hold it (a
#: counted scope handed over in another order than its link's), on the one with its links'
#: first, as a relabel's hand-over chooses: unless a key of that message is flagged already.
#: Each returns the event the message's click had and the one flagged.
_FLAG_MESSAGE_FIRSTS = [
    f"UPDATE engagement_keys l SET message_{scope} = true FROM message_clicks c "
    f"WHERE c.{event} IS NOT NULL AND l.kind = 'link' AND l.account_id = c.account_id "
    "AND l.recipient = c.recipient AND l.message = c.message "
    f"AND l.{event} = (SELECT coalesce(max(f.{event}) FILTER (WHERE f.{event} = c.{event}), "
    f"min(f.{event})) FROM engagement_keys f WHERE f.account_id = c.account_id "
    "AND f.recipient = c.recipient AND f.message = c.message AND f.kind = 'link') "
    "AND NOT EXISTS (SELECT 1 FROM engagement_keys h WHERE h.account_id = c.account_id "
    "AND h.recipient = c.recipient AND h.message = c.message AND h.kind = 'link' "
    f"AND h.message_{scope}) RETURNING c.{event}, c.{scope}_ts_ms, l.{event}, l.{scope}_ts_ms"
    for scope, event in (("any", "any_event"), ("counted", "counted_event"))
]


async def _copy_keys(
    source: sqlite3.Connection, target: asyncpg.Connection
) -> list[tuple[Any, ...]]:
    """The unique keys: SQLite's ``engagement_firsts`` holds a row per key and scope,
    PostgreSQL's ``engagement_keys`` one per key with both, and a message's first clicks as
    flags on its link keys (its ``engagement_firsts`` is a view of them as rows per kind and
    scope, which :func:`_verify` counts). Returns the moves of a message's first counted
    click to another event (``move_message_click``'s arguments, migration 13): where no link
    key held it, the copied roll-ups credit the old event, the keys the new one."""
    insert = (
        "INSERT INTO engagement_keys (account_id, kind, message, recipient, link, any_event, "
        "any_ts_ms, counted_event, counted_ts_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) "
        "ON CONFLICT (account_id, kind, message, recipient, link) DO NOTHING"
    )
    # A scope-0 row without its scope-1 row (none is ever made): its event is the first of
    # any verdict too, as migration 8 has it.
    select = (
        "SELECT account_id, kind, message, recipient, link, "
        "coalesce(max(CASE scope WHEN 1 THEN event_id END), max(event_id)), "
        "coalesce(max(CASE scope WHEN 1 THEN ts_ms END), max(ts_ms)), "
        "max(CASE scope WHEN 0 THEN event_id END), max(CASE scope WHEN 0 THEN ts_ms END) "
        "FROM engagement_firsts WHERE kind {} 'click' "
        "GROUP BY account_id, kind, message, recipient, link"
    )
    for rows in _rows(source, select.format("<>")):
        await target.executemany(insert, rows)
    await target.execute(
        "CREATE TEMP TABLE message_clicks (account_id bigint, kind text, message text, "
        "recipient text, link text, any_event text, any_ts_ms bigint, counted_event text, "
        "counted_ts_ms bigint) ON COMMIT DROP"
    )
    for rows in _rows(source, select.format("=")):
        await target.copy_records_to_table("message_clicks", records=rows)
    flagged = [await target.fetch(statement) for statement in _FLAG_MESSAGE_FIRSTS]
    return [tuple(r) for r in flagged[1] if r[0] != r[2]]


async def _copy_events(source: sqlite3.Connection, target: asyncpg.Connection, node: str) -> int:
    """The events, through a staging table (COPY, then insert what is new), as batches of
    ``node``: the counted ones below the node's roll-up progress, the others above it."""
    columns = [c for c in await _columns(target, "events") if c not in ("node", "batch")]
    names = ", ".join(columns)
    await target.execute(
        "CREATE TEMP TABLE events_transfer (LIKE events INCLUDING DEFAULTS) ON COMMIT DROP"
    )
    (mark,) = source.execute("SELECT value FROM rollup_state WHERE name = 'events'").fetchone()
    batch = await target.fetchval("SELECT batch FROM ingest_batches WHERE node = $1", node) or 0
    added = 0
    for counted, where in ((True, "rowid <= ?"), (False, "rowid > ?")):
        select = f"SELECT {names} FROM events WHERE {where} ORDER BY rowid"
        for rows in _rows(source, select, (mark,)):
            await target.copy_records_to_table(
                "events_transfer",
                records=[(*r, node, batch + 1) for r in rows],
                columns=[*columns, "node", "batch"],
            )
            status = await target.execute(
                "INSERT INTO events SELECT * FROM events_transfer ON CONFLICT DO NOTHING"
            )
            await target.execute("TRUNCATE events_transfer")
            new = int(status.rpartition(" ")[2])
            if new:  # a run over rows copied before adds no batch
                batch += 1
                added += new
                if counted:  # their counts came over with the roll-ups
                    await target.execute(
                        "INSERT INTO rollup_progress (node, part, batch) SELECT $1, part, $2 "
                        f"FROM {ALL_PARTS} AS part "
                        "ON CONFLICT (node, part) DO UPDATE SET batch = excluded.batch",
                        node,
                        batch,
                    )
    await target.execute(
        "INSERT INTO ingest_batches (node, batch) VALUES ($1, $2) ON CONFLICT (node) "
        "DO UPDATE SET batch = greatest(ingest_batches.batch, excluded.batch)",
        node,
        batch,
    )
    return added


async def _copy_queue(source: sqlite3.Connection, target: asyncpg.Connection) -> None:
    columns = await _columns(target, "webhook_queue")
    names = ", ".join(columns)
    marks = ", ".join(f"${n}" for n in range(1, len(columns) + 1))
    insert = f"INSERT INTO webhook_queue ({names}) VALUES ({marks}) ON CONFLICT DO NOTHING"
    # A lease of the old installation means nothing here: every row is due again.
    for rows in _rows(source, f"SELECT {names} FROM webhook_queue"):
        for row in rows:
            row[columns.index("lease_until_ms")] = 0
        await target.executemany(insert, rows)


async def _verify(source: sqlite3.Connection, target: asyncpg.Connection) -> list[TableCount]:
    counts = []
    for table in [*(t for t, _ in TABLES), "events", "webhook_queue"]:
        (have,) = source.execute(f"SELECT count(*) FROM {table}").fetchone()
        got = await target.fetchval(f"SELECT count(*) FROM {table}")
        counts.append(TableCount(table, int(have), int(got)))
    short = [c for c in counts if c.target < c.source]
    if short:
        raise TransferError(
            "fewer rows in PostgreSQL than in SQLite: "
            + ", ".join(f"{c.table} {c.target} < {c.source}" for c in short)
        )
    return counts
