"""ConsoleAuth's cookies and tokens, without a server."""

from __future__ import annotations

import asyncio

from starlette.requests import Request
from starlette.responses import Response

from admin.console.auth import ConsoleAuth
from admin.console.pages import MAX_FORM_BYTES, read_form
from edge.tokens.codec import TokenCodec


def _auth(secret: str = "k1") -> ConsoleAuth:
    return ConsoleAuth(None, None, TokenCodec([secret]), lifetime=600, signin_limit=5)  # type: ignore[arg-type]


def _request(scheme: str) -> Request:
    return Request(
        {
            "type": "http",
            "scheme": scheme,
            "headers": [],
            "path": "/",
            "server": ("admin.test", 443),
        }
    )


def test_the_session_cookie_is_secure_over_https():
    response = Response()
    _auth().set_session_cookie(_request("https"), response, "session-id")
    cookie = response.headers["set-cookie"].lower()
    assert "; secure" in cookie and "; httponly" in cookie and "samesite=strict" in cookie


def test_the_session_cookie_is_signed():
    response = Response()
    _auth().set_session_cookie(_request("http"), response, "session-id")
    value = response.headers["set-cookie"].split(";")[0].split("=", 1)[1]
    assert value.startswith("session-id.") and len(value) > len("session-id.") + 20


def test_csrf_tokens_are_bound_to_the_session_and_the_secret():
    auth = _auth()
    token = auth.csrf_token("s1")
    assert auth.csrf_ok("s1", token)
    assert not auth.csrf_ok("s2", token)
    assert not auth.csrf_ok("s1", None)
    assert not _auth("k2").csrf_ok("s1", token)  # a new secret ends the old tokens


def test_a_csrf_token_that_is_not_ascii_is_refused():
    assert _auth().csrf_ok("pre:abc", "é") is False


def test_a_form_past_its_limit_is_read_no_further_than_the_limit():
    """/signin reads its form before anyone is signed in: a body of gigabytes must not be
    held in memory (nor read) past the limit."""
    chunk, received = b"a" * 100_000, []

    async def receive() -> dict:
        received.append(len(chunk))
        return {"type": "http.request", "body": chunk, "more_body": len(received) < 1000}

    scope = {"type": "http", "method": "POST", "path": "/signin", "headers": [],
             "query_string": b""}  # fmt: skip
    assert asyncio.run(read_form(Request(scope, receive))) == {}
    assert sum(received) <= MAX_FORM_BYTES + len(chunk)
