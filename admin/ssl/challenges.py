"""ACME HTTP-01 challenges: published in the database, answered by every worker.

The CA's validator fetches ``http://<domain>/.well-known/acme-challenge/<token>`` (RFC 8555
§8.3) and may reach any worker process, so the issuer writes the key authorisation to the
``acme_challenges`` table and :class:`ChallengeResponder` (registered as the edge's
``well_known["acme-challenge"]`` handler on every non-admin host) reads it back. A token is
only answered on the host it was issued for.

The path is open to anyone on any host, so the responder only queries for hosts a challenge
can be pending for (tracking domains in the edge's table, whatever their state, and the
default domain: the only names certificates are issued for), and does so on a read-only
connection of its own: never under :class:`~admin.database.AdminDatabase`'s lock, which every
admin transaction takes, so that unauthenticated traffic cannot stall the admin API.
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import Protocol

import aiosqlite

from edge.db.admin import AdminDatabase
from edge.serving.domains import TrackingHost
from edge.serving.tracking import Receive, Scope, Send, not_found

PREFIX = "/.well-known/acme-challenge/"


class ChallengeBoard:
    """Where the issuer pins challenge answers while an order is validated."""

    def __init__(self, db: AdminDatabase) -> None:
        self.db = db

    async def publish(self, domain: str, token: str, key_authorization: str) -> None:
        async with self.db.transaction() as conn:
            await conn.execute(
                "INSERT OR REPLACE INTO acme_challenges (token, domain, key_authorization) "
                "VALUES (?, ?, ?)",
                (token, domain, key_authorization),
            )

    async def withdraw(self, token: str) -> None:
        async with self.db.transaction() as conn:
            await conn.execute("DELETE FROM acme_challenges WHERE token = ?", (token,))


class HostTable(Protocol):
    """The edge's domain table (:class:`edge.domains.DomainTable`), as far as used here."""

    def get(self, host: str | None) -> TrackingHost | None: ...


class ChallengeResponder:
    """The ``/.well-known/acme-challenge/`` handler: ``handler(scope, receive, send, host)``.

    ``path`` is the database file, read on a connection of the responder's own, opened on
    first use; :meth:`close` it on shutdown.
    """

    #: Seconds a lookup waits for a writer's lock (WAL readers rarely wait at all).
    busy_timeout = 2.0

    def __init__(self, path: Path, hosts: HostTable) -> None:
        self.path = Path(path)
        self.hosts = hosts
        self._conn: aiosqlite.Connection | None = None
        self._opening = asyncio.Lock()

    async def lookup(self, domain: str, token: str) -> str | None:
        conn = self._conn or await self._open()
        async with conn.execute(
            "SELECT key_authorization FROM acme_challenges WHERE token = ? AND domain = ?",
            (token, domain),
        ) as cur:
            row = await cur.fetchone()
        return row[0] if row else None

    async def _open(self) -> aiosqlite.Connection:
        async with self._opening:
            if self._conn is None:
                uri = self.path.resolve().as_uri() + "?mode=ro"
                self._conn = await aiosqlite.connect(uri, uri=True, timeout=self.busy_timeout)
            return self._conn

    async def close(self) -> None:
        if self._conn is not None:
            conn, self._conn = self._conn, None
            with contextlib.suppress(Exception):
                await conn.close()

    async def __call__(self, scope: Scope, receive: Receive, send: Send, host: str) -> None:
        path: str = scope["path"]
        token = path[len(PREFIX) :] if path.startswith(PREFIX) else ""
        answer = None
        # Tokens are base64url (RFC 8555 §8.3); anything else is not worth a query, nor is
        # a host no certificate is ever issued for.
        if (
            token
            and scope["method"] in ("GET", "HEAD")
            and _base64url(token)
            and self.hosts.get(host) is not None
        ):
            answer = await self.lookup(host, token)
        if answer is None:
            await not_found(send, scope["method"])
            return
        body = answer.encode()
        headers = [
            (b"content-type", b"application/octet-stream"),
            (b"content-length", str(len(body)).encode()),
            (b"cache-control", b"no-store"),
        ]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send(
            {"type": "http.response.body", "body": body if scope["method"] == "GET" else b""}
        )


def _base64url(token: str) -> bool:
    return len(token) <= 256 and all(c.isalnum() or c in "-_" for c in token) and token.isascii()
