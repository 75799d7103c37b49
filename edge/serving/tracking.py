"""The tracking app: click redirects, open pixels and robots.txt on tracking hosts.

Written by hand rather than with Starlette's router because it is the hot path: one path
check, one token verification, one list append. Each request becomes a :class:`Reply` made
at once, which the ASGI entry sends and the HTTP protocol's fast path
(``edge/serving/uvicorn_internals.py``) writes straight to the socket. It never reads the
database and never redirects to a URL it did not sign.
"""

from __future__ import annotations

import html
import re
import time
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from dataclasses import dataclass
from typing import Any

from edge.events.recorder import EventRecorder
from edge.model.domains import TrackingHost
from edge.model.events import CLICK, new_event_id
from edge.serving.clientaddr import ClientResolver
from edge.tokens.codec import BadToken, TokenCodec

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


# The smallest transparent 1x1 GIF (43 bytes).
PIXEL_GIF = (
    b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\x00\x00\x00!\xf9\x04\x01\x00\x00\x00\x00"
    b",\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;"
)
ROBOTS_TXT = b"User-agent: *\nDisallow: /\n"
NOT_FOUND_PAGE = (
    b"<!doctype html><title>Link not found</title>"
    b"<p>This link is not valid. Please check that it was copied completely.</p>\n"
)

# Never 301: browsers cache it and later clicks never reach the edge. ``no-store`` keeps
# proxies and browsers from replaying the redirect without us seeing the click. The head
# of every redirect: its Location (signed only after safe_url(): ASCII, no CR or LF) and
# the length of its body, then these fields.
_REDIRECT_HEAD = (
    b"location: %s\r\ncontent-length: %d\r\n"
    b"cache-control: no-store\r\ncontent-type: text/html; charset=utf-8\r\n"
)
_REDIRECT_BODY = b'<!doctype html><a href="%s">Continue</a>\n'
#: What html.escape() changes; a URL without any is its own escape.
_HTML_SPECIAL = re.compile(r"[&<>\"']")
# Image caches (and Gmail's proxy) must fetch the pixel again for every open.
_PIXEL_HEADERS = [
    (b"content-type", b"image/gif"),
    (b"content-length", str(len(PIXEL_GIF)).encode()),
    (b"cache-control", b"no-store, no-cache, must-revalidate, max-age=0"),
    (b"pragma", b"no-cache"),
    (b"expires", b"0"),
]
_NOT_FOUND_HEADERS = [
    (b"content-type", b"text/html; charset=utf-8"),
    (b"content-length", str(len(NOT_FOUND_PAGE)).encode()),
    (b"cache-control", b"no-store"),
]
_ROBOTS_HEADERS = [
    (b"content-type", b"text/plain; charset=utf-8"),
    (b"content-length", str(len(ROBOTS_TXT)).encode()),
]
_ALLOW_HEADERS = [(b"allow", b"GET, HEAD"), (b"content-length", b"0")]


@dataclass
class ServedCounters:
    """What this process has served since it started (``/healthz``, ``/metrics``, the
    benchmark). Only counter increments: nothing on the hot path waits for them."""

    #: Clicks answered with their redirect (302) and pixels served (200).
    redirects: int = 0
    pixels: int = 0
    #: Clicks refused (404): a token that does not verify, or another account's.
    refused_clicks: int = 0
    #: Requests on a host that is not served (404), and other paths on a served one.
    unknown_hosts: int = 0
    other: int = 0


class Reply:
    """A whole response, made at once: every tracking response is small and needs no I/O.

    The ASGI path sends it as two messages (:meth:`send`); the HTTP protocol's fast path
    (``edge/serving/uvicorn_internals.py``) writes it to the socket itself. Both answer with
    the same bytes. Its header fields are kept as the lines they are sent as (``head``):
    made once for a constant reply, and with one formatting for a redirect.
    """

    __slots__ = ("body", "close", "head", "status")

    def __init__(
        self,
        status: int,
        headers: Iterable[tuple[bytes, bytes]],
        body: bytes,
        close: bool = False,
        *,
        head: bytes | None = None,
    ) -> None:
        self.status = status
        #: The header fields as sent: ``name: value`` and CRLF each (``headers`` then unused).
        self.head = (
            head if head is not None else b"".join([n + b": " + v + b"\r\n" for n, v in headers])
        )
        self.body = body
        #: The connection ends after it (``headers`` then hold ``connection: close``).
        self.close = close

    @property
    def headers(self) -> list[tuple[bytes, bytes]]:
        """The header fields, as an ASGI ``http.response.start`` message lists them."""
        fields = []
        for line in self.head.split(b"\r\n")[:-1]:
            name, _, value = line.partition(b": ")
            fields.append((name, value))
        return fields

    def __repr__(self) -> str:
        return f"Reply({self.status}, {self.headers!r}, {self.body!r}, close={self.close})"

    async def send(self, send: Send, method: str) -> None:
        await send({"type": "http.response.start", "status": self.status, "headers": self.headers})
        await send({"type": "http.response.body", "body": b"" if method == "HEAD" else self.body})


NOT_FOUND = Reply(404, _NOT_FOUND_HEADERS, NOT_FOUND_PAGE)
_TWO_HOSTS = b"Bad Request: more than one Host header field\n"
#: RFC 9112 §3.2: a request with more than one Host field line MUST be answered 400. Which
#: one a proxy in front believed is unknowable, so the connection ends too.
BAD_REQUEST_TWO_HOSTS = Reply(
    400,
    [
        (b"content-type", b"text/plain; charset=utf-8"),
        (b"content-length", b"%d" % len(_TWO_HOSTS)),
        (b"connection", b"close"),
    ],
    _TWO_HOSTS,
    close=True,
)
_ROBOTS = Reply(200, _ROBOTS_HEADERS, ROBOTS_TXT)
_PIXEL = Reply(200, _PIXEL_HEADERS, PIXEL_GIF)
_NOT_ALLOWED = Reply(405, _ALLOW_HEADERS, b"")


class TrackingApp:
    """Serves tracking paths for hosts already resolved to a served :class:`TrackingHost`."""

    def __init__(
        self,
        codec: TokenCodec,
        recorder: EventRecorder,
        served: ServedCounters | None = None,
        client: ClientResolver | None = None,
    ) -> None:
        self.codec = codec
        #: Reads the client address (X-Forwarded-For from trusted proxies only), user agent
        #: and prefetch hints (issue 6).
        self.client = client or ClientResolver()
        self.recorder = recorder
        self.served = served if served is not None else ServedCounters()

    async def handle(self, scope: Scope, send: Send, host: TrackingHost) -> None:
        """The ASGI entry: ``scope`` is an HTTP request for ``host``."""
        method: str = scope["method"]
        reply = self.reply(method, scope["path"], scope["headers"], scope.get("client"), host)
        await reply.send(send, method)

    def reply(
        self,
        method: str,
        path: str,
        headers: list[tuple[bytes, bytes]],
        client: tuple[str, int] | None,
        host: TrackingHost,
    ) -> Reply:
        """The response to a request on a served tracking host; records its event, if any.

        The event is queued before the response exists: once a client has its redirect, a
        shutdown right after cannot miss the click.
        """
        if method != "GET" and method != "HEAD":
            self.served.other += 1
            return _NOT_ALLOWED
        if path.startswith("/e/"):
            return self._click(method, path[3:], headers, client, host)
        if path.startswith("/o/"):
            return self._open(method, path[3:], headers, client, host)
        self.served.other += 1
        if path == "/robots.txt":
            return _ROBOTS
        return NOT_FOUND

    def _click(
        self,
        method: str,
        token: str,
        headers: list[tuple[bytes, bytes]],
        client: tuple[str, int] | None,
        host: TrackingHost,
    ) -> Reply:
        try:
            account_id, url, message, recipient, link = self.codec.click_fields(token)
        except BadToken:
            self.served.refused_clicks += 1
            return NOT_FOUND
        if not host.accepts(account_id):
            self.served.refused_clicks += 1
            return NOT_FOUND
        self._record(
            headers, client, host, method, CLICK, account_id, message, recipient, link, url
        )
        self.served.redirects += 1
        location = url.encode("ascii")
        body = _REDIRECT_BODY % (
            html.escape(url).encode("ascii") if _HTML_SPECIAL.search(url) else location
        )
        return Reply(302, (), body, head=_REDIRECT_HEAD % (location, len(body)))

    def _open(
        self,
        method: str,
        token: str,
        headers: list[tuple[bytes, bytes]],
        client: tuple[str, int] | None,
        host: TrackingHost,
    ) -> Reply:
        # The GIF is sent whatever the token: a broken image in the email is worse than a
        # lost open, and a bad token records nothing.
        try:
            opened = self.codec.read_open(token)
        except BadToken:
            opened = None
        if opened is not None and host.accepts(opened.account_id):
            self._record(
                headers, client, host, method, opened.kind, opened.account_id, opened.message,
                opened.recipient, None, None,
            )  # fmt: skip
        self.served.pixels += 1
        return _PIXEL

    def _record(
        self,
        headers: list[tuple[bytes, bytes]],
        client: tuple[str, int] | None,
        host: TrackingHost,
        method: str,
        type_: str,
        account_id: int,
        message: str | None,
        recipient: str | None,
        link: str | None,
        url: str | None,
    ) -> None:
        """Queue the event of a served click or open (one clock read, HEAD is a prefetch).

        Queued as its spool row, :meth:`Event.row` of the event these fields make, without
        making the event (tests/edge/serving/test_event_rows.py holds the order to the fields)."""
        ip, ua, prefetch = self.client.resolve(headers, client)
        now = time.time_ns()
        self.recorder.record_row(
            (
                new_event_id(now),
                type_,
                now // 1_000_000,
                account_id,
                host.domain,
                message,
                recipient,
                link,
                url,
                ip,
                ua,
                method,
                prefetch or method == "HEAD",
            )
        )


async def not_found(send: Send, method: str = "GET") -> None:
    """The small 404 page every unknown host, path or token gets."""
    await NOT_FOUND.send(send, method)
