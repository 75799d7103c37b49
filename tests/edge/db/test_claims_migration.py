"""Upgrading to per-account CNAME targets (SQLite 11, PostgreSQL 3) keeps every domain as it
was, gives every existing account a label of its own, and lets names be claimed per account."""

from __future__ import annotations

import asyncio
import re
import sqlite3

import asyncpg

from edge.db.postgres.migrate import migrate as migrate_postgres
from edge.db.sqlite.migrate import migrate as migrate_sqlite
from tests.stores import in_store

#: The schema version each engine had before, and the rows a deployment had then.
BEFORE = {"sqlite": 10, "postgres": 2}
ROWS = [
    "INSERT INTO accounts (id, name) VALUES (2, 'acme'), (3, 'beta')",
    "INSERT INTO tracking_domains (id, account_id, domain, cname_status, compliance_status, "
    "is_default) VALUES (5, 2, 'go.acme.test', 'valid', 'valid', 1), "
    "(9, 3, 'go.beta.test', 'unverified', 'pending', 0)",
]


def _old_database(engine: str, tmp_path, pg_url_of) -> None:
    if engine == "sqlite":
        path = tmp_path / "edge.sqlite3"
        migrate_sqlite(path, upto=BEFORE[engine])
        with sqlite3.connect(path) as db:
            for sql in ROWS:
                db.execute(sql)
            db.execute("DELETE FROM tracking_domains WHERE id = 9")  # the highest id is gone
        return

    async def old() -> None:
        conn = await asyncpg.connect(pg_url_of())
        try:
            await migrate_postgres(conn, upto=BEFORE[engine])
            for sql in ROWS:
                await conn.execute(sql)
            await conn.execute("DELETE FROM tracking_domains WHERE id = 9")
            # Where the identity sequences of a deployment that made these rows would be.
            await conn.execute("SELECT setval(pg_get_serial_sequence('accounts', 'id'), 3)")
            await conn.execute("SELECT setval(pg_get_serial_sequence('tracking_domains', 'id'), 9)")
        finally:
            await conn.close()

    asyncio.run(old())


def test_an_old_database_is_upgraded_with_its_domains_and_a_label_per_account(
    engine, make_store, tmp_path, request
):
    _old_database(engine, tmp_path, lambda: request.getfixturevalue("pg_url"))

    async def after(tx):
        accounts = [await tx.accounts.get(i) for i in (1, 2, 3)]
        domains = await tx.domains.all()
        # A name held by one account may now be claimed by another, and ids are not reused.
        claim = await tx.domains.insert(3, "go.acme.test", secure=False, now=1)
        return accounts, domains, claim

    accounts, domains, claim = in_store(make_store, after)
    labels = [a.cname_label for a in accounts]
    assert all(re.fullmatch(r"[0-9a-f]{20}", label) for label in labels)
    assert len(set(labels)) == 3
    assert [(d.id, d.account_id, d.domain, d.verified, d.is_default) for d in domains] == [
        (5, 2, "go.acme.test", True, True)
    ]
    assert claim > 9
