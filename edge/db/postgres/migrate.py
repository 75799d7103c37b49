"""The PostgreSQL schema, versioned in ``schema_migrations``, migrated once per cluster.

Several nodes starting together all call :func:`migrate`; a session advisory lock makes them
take turns, so each numbered script in ``edge/db/postgres/migrations`` runs once, in its own
transaction together with its row in ``schema_migrations``.
"""

from __future__ import annotations

from importlib import resources

import asyncpg

#: Advisory lock key for migrations ("edge" in ASCII), held while the schema is brought up.
MIGRATION_LOCK = 0x65646765


def migration_scripts() -> list[tuple[int, str, str]]:
    """``(version, name, sql)`` for every script shipped in ``migrations/``, in order."""
    scripts = []
    for entry in resources.files("edge.db.postgres.migrations").iterdir():
        if entry.name.endswith(".sql"):
            scripts.append((int(entry.name.split("_", 1)[0]), entry.name, entry.read_text()))
    scripts.sort()
    return scripts


async def migrate(conn: asyncpg.Connection, *, upto: int | None = None) -> int:
    """Bring the database to the newest schema (or to ``upto``); return its version."""
    await conn.execute("SELECT pg_advisory_lock($1)", MIGRATION_LOCK)
    try:
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY, "
            "name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        applied = {r[0] for r in await conn.fetch("SELECT version FROM schema_migrations")}
        current = max(applied, default=0)
        for version, name, sql in migration_scripts():
            if version in applied or (upto is not None and version > upto):
                continue
            async with conn.transaction():
                await conn.execute(sql)
                await conn.execute(
                    "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", version, name
                )
            current = version
        return current
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", MIGRATION_LOCK)
