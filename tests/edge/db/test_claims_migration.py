"""Upgrading to per-account CNAME targets (SQLite 12, PostgreSQL 4) keeps every domain as it
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
BEFORE = {"sqlite": 11, "postgres": 3}
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


def test_sqlites_rebuilt_table_keeps_what_the_other_migrations_hang_on_it(tmp_path):
    """SQLite rebuilds ``tracking_domains``: every view, trigger and index on it, and every
    foreign key to it, is there after as before (two triggers changed, two indexes added)."""
    path = tmp_path / "edge.sqlite3"

    def schema() -> tuple[dict[str, str], list[tuple]]:
        with sqlite3.connect(path) as db:
            objects = dict(
                db.execute(
                    "SELECT name, sql FROM sqlite_master WHERE type IN ('view', 'trigger', "
                    "'index') AND sql IS NOT NULL AND (tbl_name = 'tracking_domains' OR "
                    "sql LIKE '%tracking_domains%')"
                ).fetchall()
            )
            tables = [
                r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
            ]
            keys = [
                (table, *key)
                for table in tables
                for key in db.execute(f"PRAGMA foreign_key_list({table})")
                if key[2] == "tracking_domains"
            ]
        return objects, keys

    migrate_sqlite(path, upto=BEFORE["sqlite"])
    objects, keys = schema()
    migrate_sqlite(path)
    after, after_keys = schema()
    changed = {
        "tracking_domains_renamed_drop_certificate",
        "tracking_domains_deleted_drop_certificate",
    }
    assert changed <= set(objects) & set(after)
    assert {n: after.get(n) for n in objects if n not in changed} == {
        n: s for n, s in objects.items() if n not in changed
    }
    assert sorted(set(after) - set(objects)) == [
        "tracking_domains_name",
        "tracking_domains_one_verified",
    ]
    assert after_keys == keys == [
        ("sending_domains", 0, 0, "tracking_domains", "tracking_domain_id", "id", "NO ACTION",
         "RESTRICT", "NONE")
    ]  # fmt: skip
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA foreign_key_check").fetchall() == []
