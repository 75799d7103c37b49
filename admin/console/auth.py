"""Signing in to the console: sessions, their cookie, CSRF tokens and the sign-in limit.

An account signs in with one of its API keys (the operator with an operator's key, made by
``tracking-edge keys create --operator``); the key is checked by the same
:meth:`Accounts.authenticate_key` the API uses and never leaves the form's POST body.

The session lives in ``console_sessions`` (only a SHA-256 of its id is stored), so it holds
across workers and nodes and ends at sign-out, at expiry, or when its key is revoked. The
cookie carries the id signed with a key derived from the edge's secret (itsdangerous, with its
time, so an old cookie is refused even if the row were kept); it is ``HttpOnly``,
``SameSite=Strict``, ``Secure`` over HTTPS, and expires with the row.

CSRF: every form and every htmx request carries a token that is an HMAC of the session id
(of a random pre-session cookie on the sign-in form): a page of another origin can neither
read it nor compute it (OWASP's "signed double-submit cookie"). A POST without the right token
is refused with 403 before anything else happens.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass

from itsdangerous import BadSignature, TimestampSigner
from starlette.requests import Request
from starlette.responses import Response

from admin.accounts.service import Accounts
from edge.db.store import Store
from edge.model.accounts import ConsoleSession
from edge.tokens.codec import TokenCodec

SESSION_COOKIE = "console_session"
PRESESSION_COOKIE = "console_presession"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
#: The sign-in limit's window: attempts per client address are counted per 5 minutes.
SIGNIN_WINDOW = 300


@dataclass(frozen=True, slots=True)
class SignedIn:
    """The session of a request, with the id its cookie carried (for its CSRF token)."""

    session_id: str
    session: ConsoleSession


def _digest(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


class ConsoleAuth:
    def __init__(
        self,
        store: Store,
        accounts: Accounts,
        codec: TokenCodec,
        *,
        lifetime: int,
        signin_limit: int,
    ) -> None:
        self.store = store
        self.accounts = accounts
        self.codec = codec
        self.lifetime = lifetime
        self.signin_limit = signin_limit

    # -- signing ----------------------------------------------------------------------------

    def _signer(self) -> TimestampSigner:
        # Derived when used: a cluster's shared keys are read after the app is built.
        return TimestampSigner(self.codec.purpose_key("console-session"), salt="console")

    def csrf_token(self, bound_to: str) -> str:
        """The CSRF token of a session id (or of a pre-session cookie's value)."""
        key = self.codec.purpose_key("console-csrf")
        return hmac.new(key, bound_to.encode(), hashlib.sha256).hexdigest()

    def csrf_ok(self, bound_to: str | None, token: str | None) -> bool:
        if not bound_to or not token:
            return False
        # As bytes: compare_digest refuses a str that is not ASCII (a forged token may be).
        return hmac.compare_digest(self.csrf_token(bound_to).encode(), token.encode())

    # -- sign-in limit ----------------------------------------------------------------------

    async def allow_attempt(self, client: str) -> bool:
        """Count a sign-in attempt of ``client``; False once the window's limit is passed."""
        now = int(time.time())
        async with self.store.transaction() as tx:
            attempts = await tx.sessions.count_attempt(client, now - now % SIGNIN_WINDOW)
        return attempts <= self.signin_limit

    # -- sessions ---------------------------------------------------------------------------

    async def sign_in(self, secret: str) -> str | None:
        """A new session's id for an active API key, or ``None``."""
        key = await self.accounts.authenticate_key(secret)
        if key is None:
            return None
        session_id = secrets.token_urlsafe(32)
        now = int(time.time())
        async with self.store.transaction() as tx:
            await tx.sessions.create(
                _digest(session_id),
                key.id,
                key.account.id,
                now=now,
                expires_at=now + self.lifetime,
            )
        return session_id

    async def current(self, request: Request) -> SignedIn | None:
        """The request's live session, from its cookie; ``None`` without one."""
        cookie = request.cookies.get(SESSION_COOKIE)
        if not cookie:
            return None
        try:
            session_id = self._signer().unsign(cookie, max_age=self.lifetime).decode()
        except (BadSignature, UnicodeDecodeError):
            return None
        async with self.store.reading() as db:
            session = await db.sessions.get(_digest(session_id), now=int(time.time()))
        return None if session is None else SignedIn(session_id, session)

    async def look_at(self, signed_in: SignedIn, account_id: int) -> None:
        """The operator's session looks at another account from now on."""
        async with self.store.transaction() as tx:
            await tx.sessions.look_at(_digest(signed_in.session_id), account_id)

    async def sign_out(self, signed_in: SignedIn) -> None:
        async with self.store.transaction() as tx:
            await tx.sessions.delete(_digest(signed_in.session_id))

    # -- cookies ----------------------------------------------------------------------------

    def set_session_cookie(self, request: Request, response: Response, session_id: str) -> None:
        response.set_cookie(
            SESSION_COOKIE,
            self._signer().sign(session_id).decode(),
            max_age=self.lifetime,
            path="/",
            secure=request.url.scheme == "https",
            httponly=True,
            samesite="strict",
        )

    @staticmethod
    def clear_session_cookie(request: Request, response: Response) -> None:
        response.delete_cookie(
            SESSION_COOKIE,
            path="/",
            secure=request.url.scheme == "https",
            httponly=True,
            samesite="strict",
        )

    @staticmethod
    def presession(request: Request, response: Response) -> str:
        """The sign-in form's pre-session value (set as a cookie when missing)."""
        value = request.cookies.get(PRESESSION_COOKIE)
        if not value or len(value) > 64:
            value = secrets.token_urlsafe(24)
            response.set_cookie(
                PRESESSION_COOKIE,
                value,
                path="/",
                secure=request.url.scheme == "https",
                httponly=True,
                samesite="strict",
            )
        return value
