"""ACME HTTP-01 challenges: published in the database, answered by every worker.

The CA's validator fetches ``http://<domain>/.well-known/acme-challenge/<token>`` (RFC 8555
§8.3) and may reach any worker process, so the issuer writes the key authorisation to the
``acme_challenges`` table and :class:`ChallengeResponder` (registered as the edge's
``well_known["acme-challenge"]`` handler, served on every non-admin host whatever the domain's
state) reads it back. A token is only answered on the host it was issued for.
"""

from __future__ import annotations

from admin.database import AdminDatabase
from edge.tracking import Receive, Scope, Send, not_found

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

    async def lookup(self, domain: str, token: str) -> str | None:
        row = await self.db.fetchone(
            "SELECT key_authorization FROM acme_challenges WHERE token = ? AND domain = ?",
            (token, domain),
        )
        return row[0] if row else None


class ChallengeResponder:
    """The ``/.well-known/acme-challenge/`` handler: ``handler(scope, receive, send, host)``."""

    def __init__(self, board: ChallengeBoard) -> None:
        self.board = board

    async def __call__(self, scope: Scope, receive: Receive, send: Send, host: str) -> None:
        path: str = scope["path"]
        token = path[len(PREFIX) :] if path.startswith(PREFIX) else ""
        answer = None
        # Tokens are base64url (RFC 8555 §8.3); anything else is not worth a query.
        if token and scope["method"] in ("GET", "HEAD") and _base64url(token):
            answer = await self.board.lookup(host, token)
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
