"""A throwaway PostgreSQL for the tests, and a fresh database per test.

``scripts/test.sh`` (the README's test command, and CI's) starts one cluster for the whole
run and exports ``EDGE_TEST_DATABASE_URL``. A developer running pytest alone gets one
started here, the same way, if PostgreSQL's binaries are installed. Without either, the
tests that need PostgreSQL fail: they never skip.
"""

from __future__ import annotations

import asyncio
import glob
import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit, urlunsplit

import asyncpg

URL_ENV = "EDGE_TEST_DATABASE_URL"


def _bindir() -> str:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin"))
    if not found:
        raise RuntimeError(
            f"PostgreSQL is needed: set {URL_ENV} or install Debian's postgresql "
            "(bash scripts/test.sh does both)"
        )
    return found[-1]


@contextmanager
def throwaway_cluster(port: int) -> Iterator[str]:
    """initdb and pg_ctl on 127.0.0.1:``port`` (as the ``postgres`` user when root, since
    initdb refuses root); yields its URL, stops and removes it at the end."""
    bindir = _bindir()
    root = tempfile.mkdtemp(prefix="edge-pg-")
    as_user: list[str] = []
    if os.geteuid() == 0:
        shutil.chown(root, "postgres")
        as_user = ["runuser", "-u", "postgres", "--"]
    data = os.path.join(root, "data")

    def run(*cmd: str) -> None:
        subprocess.run([*as_user, *cmd], check=True, capture_output=True)

    try:
        run(f"{bindir}/initdb", "-D", data, "-A", "trust", "-U", "postgres", "--no-sync")
        run(
            f"{bindir}/pg_ctl", "-D", data, "-l", os.path.join(root, "log"), "-w", "start", "-o",
            f"-c listen_addresses=127.0.0.1 -p {port} -k {root} -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off -c max_connections=300",
        )  # fmt: skip
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(
            [*as_user, f"{bindir}/pg_ctl", "-D", data, "-m", "immediate", "stop"],
            capture_output=True,
        )
        shutil.rmtree(root, ignore_errors=True)


def database_url(server_url: str, name: str) -> str:
    parts = urlsplit(server_url)
    return urlunsplit(parts._replace(path=f"/{name}"))


async def _admin(server_url: str, sql: str) -> None:
    conn = await asyncpg.connect(server_url)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@contextmanager
def fresh_database(server_url: str) -> Iterator[str]:
    """A new, empty database on the server for one test; dropped (with any connection
    still open to it) at the end."""
    name = f"edge_test_{uuid.uuid4().hex[:12]}"
    asyncio.run(_admin(server_url, f'CREATE DATABASE "{name}"'))
    try:
        yield database_url(server_url, name)
    finally:
        asyncio.run(_admin(server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
