"""ConsoleAuth's cookies and tokens, without a server."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from admin.console.auth import ConsoleAuth
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
