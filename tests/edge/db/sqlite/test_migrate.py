"""The SQLite schema: numbered scripts, upgrades in place, private files, kept locks."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import stat
import subprocess
import sys
from dataclasses import replace

from edge.db.sqlite.migrate import migrate, migration_scripts
from edge.db.sqlite.store import SQLiteStore


def test_migration_scripts_are_numbered_from_one_without_gaps():
    versions = [version for version, _, _ in migration_scripts()]
    assert versions == list(range(1, len(versions) + 1))


def test_database_made_by_the_first_schema_version_is_upgraded_in_place(tmp_path):
    path = tmp_path / "edge.sqlite3"
    assert migrate(path, upto=1) == 1
    with sqlite3.connect(path) as db:
        db.execute("INSERT INTO accounts (id, name) VALUES (2, 'acme')")
        db.execute(
            "INSERT INTO tracking_domains (account_id, domain, cname_status, compliance_status) "
            "VALUES (2, 'go.acme.com', 'valid', 'valid')"
        )
        db.execute(
            "INSERT INTO events (id, type, ts_ms, account_id, domain, url) "
            "VALUES ('e1', 'click', 1, 2, 'go.acme.com', 'https://acme.com/')"
        )
        assert "change_counters" not in {
            r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        }

    async def upgrade_and_read():
        async with SQLiteStore(path) as store, store.reading() as db:
            return await db.domains.all(), await db.domains.version()

    domains, version = asyncio.run(upgrade_and_read())
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == migration_scripts()[-1][0]
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        events = db.execute("SELECT id, domain, url, verdict FROM events").fetchall()
    assert [(d.domain, d.account_id, d.served) for d in domains] == [("go.acme.com", 2, True)]
    assert version == 0  # the counter starts at the upgrade; later changes move it
    assert events == [("e1", "go.acme.com", "https://acme.com/", "human")]


def test_migrating_twice_changes_nothing(tmp_path):
    path = tmp_path / "edge.sqlite3"
    first = migrate(path)
    assert migrate(path) == first


def test_the_data_dir_is_0700_and_the_database_files_0600(tmp_path):
    data = tmp_path / "data"
    path = data / "edge.sqlite3"
    migrate(path)
    with sqlite3.connect(path) as db:  # a write: the -wal file exists now
        db.execute("INSERT INTO accounts (id, name) VALUES (2, 'acme')")
        modes = {
            name: stat.S_IMODE(os.stat(data / name).st_mode)
            for name in ("edge.sqlite3", "edge.sqlite3-wal", "edge.sqlite3-shm")
        }
    assert stat.S_IMODE(os.stat(data).st_mode) == 0o700
    assert modes == {"edge.sqlite3": 0o600, "edge.sqlite3-wal": 0o600, "edge.sqlite3-shm": 0o600}


def test_an_existing_world_readable_database_is_made_0600(tmp_path):
    path = tmp_path / "edge.sqlite3"
    sqlite3.connect(path).close()
    os.chmod(path, 0o644)
    migrate(path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


def test_migrate_keeps_the_locks_of_connections_this_process_has_open(tmp_path):
    # Closing any descriptor of a file drops every POSIX lock the process holds on it. Had
    # migrate() (run again by each part that opens the database) done so, the open
    # connection's shared lock would be gone: the next connection of another process to
    # close would think itself the last, and delete -wal and -shm under the open one (which
    # then never sees another change: a worker's domain table stuck).
    path = tmp_path / "edge.sqlite3"
    migrate(path)
    holder = sqlite3.connect(path, isolation_level=None)
    try:
        holder.execute("SELECT count(*) FROM accounts").fetchone()
        migrate(path)
        subprocess.run(
            [
                sys.executable,
                "-c",
                "import sqlite3, sys; c = sqlite3.connect(sys.argv[1], isolation_level=None); "
                "c.execute(\"INSERT INTO accounts (id, name) VALUES (7, 'x')\"); c.close()",
                str(path),
            ],
            check=True,
        )
        files = sorted(f.name for f in tmp_path.iterdir() if f.name.startswith("edge.sqlite3-"))
        seen = holder.execute("SELECT id FROM accounts ORDER BY id").fetchall()
    finally:
        holder.close()
    assert files == ["edge.sqlite3-shm", "edge.sqlite3-wal"]
    assert seen == [(1,), (7,)]


def test_a_server_started_on_a_fresh_data_dir_keeps_it_private(settings, make_server):
    # No configured secret: the key file is written first, creating the directory.
    live = make_server(replace(settings, secret_keys=()))
    data = settings.data_dir
    modes = {
        path.name: stat.S_IMODE(os.stat(path).st_mode)
        for path in (data, data / "secret_keys", data / "edge.sqlite3")
    }
    assert live.app.runtime.settings.data_dir == data
    assert modes == {"data": 0o700, "secret_keys": 0o600, "edge.sqlite3": 0o600}
