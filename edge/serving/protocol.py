"""uvicorn's httptools protocol, with a fast path for tracking requests and the writes of one
loop iteration sent in one syscall.

Fast path. uvicorn turns every request into an ASGI scope, a request-response cycle object,
an asyncio task and two checked ``send`` messages: about two thirds of the CPU a redirect
costs. Yet a click or an open needs no I/O at all (the token is verified in memory and the
event appended to a list), so :class:`EdgeHttpProtocol` asks the app's ``reply_now`` for the
whole response as soon as the request head is parsed, and writes it itself. Whatever the app
declines (the admin host, ``/.well-known/``), and any request that is not a plain bodyless
GET or HEAD, takes uvicorn's ASGI path unchanged, which calls the same ``reply_now``:
both paths give the same bytes.

uvicorn writes the status line and headers when the app sends ``http.response.start`` and
the body when it sends ``http.response.body``: two ``write`` calls, and with ``TCP_NODELAY``
two TCP segments, for a response the app hands over whole. A redirect with its short body
(RFC 9110 §15.4.3: a short hypertext note with a hyperlink) thus cost a second syscall on the
server and a second read on the client. The transport wrapper below gathers what is written
during one iteration of the event loop and sends it at the end of that iteration: nothing
waits longer than the current iteration, and a response sent whole leaves in one piece.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

log = logging.getLogger("edge.protocol")


class CoalescingTransport:
    """Proxies an ``asyncio.Transport``; writes are gathered until the loop's next turn."""

    __slots__ = ("_buffer", "_loop", "_transport")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._buffer: list[bytes] | None = None

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if not data:
            return
        if self._buffer is None:
            self._buffer = [bytes(data)]
            self._loop.call_soon(self.flush)
        else:
            self._buffer.append(bytes(data))

    def writelines(self, lines: Any) -> None:
        for data in lines:
            self.write(data)

    def flush(self) -> None:
        buffer, self._buffer = self._buffer, None
        if buffer and not self._transport.is_closing():
            self._transport.write(buffer[0] if len(buffer) == 1 else b"".join(buffer))

    def get_write_buffer_size(self) -> int:
        pending = sum(map(len, self._buffer)) if self._buffer else 0
        return self._transport.get_write_buffer_size() + pending

    def write_eof(self) -> None:
        self.flush()
        self._transport.write_eof()

    def close(self) -> None:
        self.flush()  # what was written before close() still goes out, as with a transport
        self._transport.close()

    def abort(self) -> None:
        self._buffer = None
        self._transport.abort()

    def __getattr__(self, name: str) -> Any:
        # get_extra_info, is_closing, pause_reading, resume_reading, set_protocol, ...
        return getattr(self._transport, name)


class CoalescingHttpToolsProtocol(HttpToolsProtocol):
    """``uvicorn.run(..., http=CoalescingHttpToolsProtocol)``."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(CoalescingTransport(transport, self.loop))  # type: ignore[arg-type]


# Header names that announce a request body: such requests take the ASGI path.
_BODY_HEADERS = (b"content-length", b"transfer-encoding")
_SERVER_ERROR = (
    b"HTTP/1.1 500 Internal Server Error\r\ncontent-type: text/plain; charset=utf-8\r\n"
    b"content-length: 21\r\nconnection: close\r\n\r\nInternal Server Error"
)


class EdgeHttpProtocol(CoalescingHttpToolsProtocol):
    """``uvicorn.run(..., http=EdgeHttpProtocol)``: the fast path described above, for an
    app with a ``reply_now(method, path, headers, client)`` method returning a
    :class:`~edge.tracking.Reply` or ``None``."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._reply_now = getattr(self.app, "reply_now", None)
        #: The response to the request being parsed, written when its message completes.
        self._ready: bytes | None = None
        self._close_after = False
        #: Loop time the connection went idle (no request in flight), ``None`` while busy.
        self._idle_at: float | None = None

    def on_headers_complete(self) -> None:
        if self._reply_now is not None and self._answer_now():
            return
        super().on_headers_complete()

    def _answer_now(self) -> bool:
        """Answer the parsed request head at once if it may be; returns whether it was."""
        url = self.url
        method = self.parser.get_method()
        if (
            (method != b"GET" and method != b"HEAD")
            # Requests wait their turn behind a response still being made (pipelining).
            or (self.cycle is not None and not self.cycle.response_complete)
            or self.pipeline
            # Paths that need decoding, queries and absolute-form targets: the ASGI path.
            or not url.startswith(b"/")
            or b"%" in url
            or b"?" in url
            or b"#" in url  # uvicorn drops a fragment; so does the ASGI path
            or not url.isascii()
            or self.root_path
            or self.flow.write_paused
            or self.limit_concurrency is not None
            or self.parser.should_upgrade()
        ):
            return False
        for name, value in self.headers:
            if name in _BODY_HEADERS and value != b"0":
                return False
        method_str = "GET" if method == b"GET" else "HEAD"
        try:
            reply = self._reply_now(method_str, url.decode("ascii"), self.headers, self.client)
        except Exception:
            log.exception("Exception in reply_now")
            self._ready, self._close_after = _SERVER_ERROR, True
            return True
        if reply is None:
            return False
        version = self.parser.get_http_version()
        if self.access_log:  # the line uvicorn's ASGI path logs
            self.access_logger.info(
                '%s - "%s %s HTTP/%s" %d',
                f"{self.client[0]}:{self.client[1]}" if self.client else "-",
                method_str,
                url.decode("ascii"),
                version,
                reply.status,
            )
        keep_alive = version != "1.0" and self.parser.should_keep_alive()
        content = [STATUS_LINE[reply.status]]
        for name, value in self.server_state.default_headers:  # date (and server, if on)
            content += (name, b": ", value, b"\r\n")
        for name, value in reply.headers:
            content += (name, b": ", value, b"\r\n")
        if not keep_alive:
            content.append(b"connection: close\r\n")
        content.append(b"\r\n")
        if method_str == "GET":
            content.append(reply.body)
        self._ready = b"".join(content)
        self._close_after = not keep_alive
        return True

    def on_message_complete(self) -> None:
        ready = self._ready
        if ready is None:
            super().on_message_complete()
            return
        self._ready = None
        self.transport.write(ready)
        self.server_state.total_requests += 1
        if self._close_after:
            self.transport.close()
        else:
            self._went_idle()

    # Keep-alive timeout, kept lazily. uvicorn arms a new timer after every response and
    # cancels it when the next request arrives: two timer operations per request, a tenth
    # of what a fast-path request costs. Here one timer stays armed; each request only
    # notes the time, and the timer, when it fires, closes the connection if it has been
    # idle long enough or else waits for the rest.

    def on_response_complete(self) -> None:
        # uvicorn's, with _went_idle() for its new timer.
        self.server_state.total_requests += 1
        if self.transport.is_closing():
            return
        self.flow.resume_reading()
        if self.pipeline:
            cycle, app = self.pipeline.pop()
            self._start_asgi_task(cycle, app)
        else:
            self._went_idle()

    def _went_idle(self) -> None:
        self._idle_at = self.loop.time()
        if self.timeout_keep_alive_task is None:
            self.timeout_keep_alive_task = self.loop.call_later(
                self.timeout_keep_alive, self.timeout_keep_alive_handler
            )

    def _unset_keepalive_if_required(self) -> None:
        # Called when data arrives (and on connection loss): busy, the timer stays.
        self._idle_at = None

    def timeout_keep_alive_handler(self) -> None:
        self.timeout_keep_alive_task = None
        if self.transport.is_closing() or self._idle_at is None:
            return  # closed, or busy: the next idle moment arms a new timer
        remaining = self._idle_at + self.timeout_keep_alive - self.loop.time()
        if remaining > 0:
            self.timeout_keep_alive_task = self.loop.call_later(
                remaining, self.timeout_keep_alive_handler
            )
        else:
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        if self.timeout_keep_alive_task is not None:
            self.timeout_keep_alive_task.cancel()
            self.timeout_keep_alive_task = None
