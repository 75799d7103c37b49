"""ACME HTTP-01 challenges: published in the database, answered by every worker.

The CA's validator fetches ``http://<domain>/.well-known/acme-challenge/<token>`` (RFC 8555
§8.3) and may reach any worker process, so the issuer writes the key authorisation to the
``acme_challenges`` table and :class:`ChallengeResponder` (registered as the edge's
``well_known["acme-challenge"]`` handler on every non-admin host) reads it back. A token is
only answered on the host it was issued for.

The answer is looked up for any host, not only those in this node's domain table: another
node may have verified the domain and asked the CA to validate it a moment ago, before this
node's table reloaded, and the CA's validator may reach this node first. The path is open to
anyone, so the lookup is one primary-key read on the store's serving connection (never behind
the admin API's transactions: unauthenticated traffic cannot stall the admin API), and only
for a well-formed token.
"""

from __future__ import annotations

import time

from edge.db.store import Store
from edge.serving.tracking import Receive, Scope, Send, not_found

PREFIX = "/.well-known/acme-challenge/"


class ChallengeBoard:
    """Where the issuer pins challenge answers while an order is validated."""

    def __init__(self, store: Store) -> None:
        self.store = store

    async def publish(self, domain: str, token: str, key_authorization: str) -> None:
        async with self.store.transaction() as tx:
            await tx.challenges.publish(domain, token, key_authorization, now=int(time.time()))

    async def withdraw(self, token: str) -> None:
        async with self.store.transaction() as tx:
            await tx.challenges.withdraw(token)


class ChallengeResponder:
    """The ``/.well-known/acme-challenge/`` handler: ``handler(scope, receive, send, host)``."""

    def __init__(self, store: Store) -> None:
        self.store = store

    async def lookup(self, domain: str, token: str) -> str | None:
        async with self.store.reading() as db:
            return await db.challenges.answer(domain, token)

    async def __call__(self, scope: Scope, receive: Receive, send: Send, host: str) -> None:
        path: str = scope["path"]
        token = path[len(PREFIX) :] if path.startswith(PREFIX) else ""
        answer = None
        # Tokens are base64url (RFC 8555 §8.3); anything else is not worth a query.
        if token and scope["method"] in ("GET", "HEAD") and _base64url(token):
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
