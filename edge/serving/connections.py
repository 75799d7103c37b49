"""What an HTTP connection of the edge needs besides uvicorn: plain asyncio, no uvicorn import.

Writes wait for the end of the event-loop turn. uvicorn writes the status line and headers
when the app sends ``http.response.start`` and the body when it sends
``http.response.body``: two ``write`` calls, and with ``TCP_NODELAY`` two TCP segments, for a
response the app hands over whole. :class:`CoalescingTransport` gathers what a connection
writes during one iteration of the event loop and sends it at the end of that iteration, in
one piece; nothing waits longer than the current iteration.

Events first. The responses of one turn leave together (:class:`TurnWrites`), and just
before they do, the app's ``flush_events`` writes the events those requests recorded to the
spool: one ``write`` for the whole turn. A client therefore never holds a response whose
event is only in memory, and a crash (even ``kill -9``) can lose only events of requests
that were never answered.

Limits. A client may hold a connection and the worker's attention only so long: a request
head must be complete within ``head_timeout`` seconds of its first byte (else 408) and an idle
connection is closed after uvicorn's keep-alive timeout, fresh ones included; a request
target longer than ``max_request_line`` bytes is a 414 and a head larger than ``max_head`` a
431 (RFC 9110 §15.5.15, RFC 6585 §5), refused as soon as that many bytes have arrived. Each
server holds at most ``max_connections``: a newcomer beyond it closes the connection that has
been idle longest (:class:`IdleConnections`), so idle or half-sent connections can neither
exhaust the process's file descriptors nor lock out real clicks.

The protocol that uses these parts is in :mod:`edge.serving.uvicorn_internals`.
"""

from __future__ import annotations

import asyncio
import logging
import resource
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from edge.config import Settings

log = logging.getLogger("edge.serving")


class TurnWrites:
    """The writes of one event-loop turn, for every connection of a server: sent together at
    the turn's end, right after ``before`` (the app's ``flush_events``) has run once."""

    __slots__ = ("_before", "_loop", "_waiting")

    def __init__(
        self, loop: asyncio.AbstractEventLoop, before: Callable[[], object] | None = None
    ) -> None:
        self._loop = loop
        self._before = before
        #: Transports with writes held this turn; not empty exactly when a send is scheduled.
        self._waiting: list[CoalescingTransport] = []

    def hold(self, transport: CoalescingTransport) -> None:
        """``transport`` holds writes: send them at the end of this turn."""
        if not self._waiting:
            self._loop.call_soon(self.send)
        self._waiting.append(transport)

    def send(self) -> None:
        waiting, self._waiting = self._waiting, []
        self.before_send()
        for transport in waiting:
            try:
                transport.send()
            except Exception:  # one connection's trouble must not hold the others' answers
                log.exception("Exception sending a response")

    def before_send(self) -> None:
        if self._before is not None:
            try:
                self._before()
            except Exception:  # the responses still go out; the events stay pending
                log.exception("Exception before sending responses")


class CoalescingTransport:
    """Proxies an ``asyncio.Transport``; writes are held until the end of the loop turn."""

    __slots__ = ("_buffer", "_ended", "_transport", "_turn")

    def __init__(self, transport: asyncio.Transport, turn: TurnWrites) -> None:
        self._transport = transport
        self._turn = turn
        self._buffer: list[bytes] | None = None
        #: ``write_eof`` was called: what is written after it is dropped, as a closed
        #: transport drops it (asyncio's would raise, in the middle of the turn's sends).
        self._ended = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if not data or self._ended:
            return
        if self._buffer is None:
            self._buffer = [bytes(data)]
            self._turn.hold(self)
        else:
            self._buffer.append(bytes(data))

    def writelines(self, lines: Any) -> None:
        for data in lines:
            self.write(data)

    def send(self) -> None:
        """Write what is held (the turn's events are written already)."""
        buffer, self._buffer = self._buffer, None
        if buffer and not self._transport.is_closing():
            self._transport.write(buffer[0] if len(buffer) == 1 else b"".join(buffer))

    def flush(self) -> None:
        """Write what is held now, the events recorded so far first."""
        if self._buffer:
            self._turn.before_send()
            self.send()

    def is_closing(self) -> bool:
        # Spelt out, not left to __getattr__: the protocol asks for every request head, and
        # the fallback costs four times the call (0.7 against 0.16 µs).
        return self._transport.is_closing()

    def get_write_buffer_size(self) -> int:
        pending = sum(map(len, self._buffer)) if self._buffer else 0
        return self._transport.get_write_buffer_size() + pending

    def write_eof(self) -> None:
        self.flush()
        self._ended = True
        self._transport.write_eof()

    def close(self) -> None:
        self.flush()  # what was written before close() still goes out, as with a transport
        self._transport.close()

    def abort(self) -> None:
        self._buffer = None
        self._transport.abort()

    def __getattr__(self, name: str) -> Any:
        # get_extra_info, pause_reading, resume_reading, set_protocol, ...
        return getattr(self._transport, name)


@dataclass(frozen=True, slots=True)
class HttpLimits:
    """How much a client may ask of a connection (``EDGE_HTTP_*`` settings)."""

    #: Seconds from a request head's first byte to its end.
    head_timeout: float = 10.0
    #: Bytes in a request target (the URL of the request line).
    max_request_line: int = 16384
    #: Bytes in a request head: request line and header fields.
    max_head: int = 65536
    #: Connections one server (worker) holds; 0: three quarters of its open-file limit.
    max_connections: int = 0

    @classmethod
    def from_settings(cls, settings: Settings) -> HttpLimits:
        return cls(
            settings.http_head_timeout,
            settings.http_max_request_line,
            settings.http_max_head,
            settings.http_max_connections,
        )

    def connection_cap(self) -> int:
        """``max_connections``, or three quarters of ``ulimit -n``: the rest stays for the
        spool, the database, outgoing requests and the listening sockets."""
        if self.max_connections > 0:
            return self.max_connections
        soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
        return 1 << 30 if soft == resource.RLIM_INFINITY else max(1, soft * 3 // 4)


class Evictable(Protocol):
    def evict(self) -> None:
        """Close this idle connection to make room for a new one."""


class IdleConnections:
    """A server's connections that no request is being answered on (fresh, between requests,
    or partway through a request head), longest idle first; and the cap on all of them."""

    __slots__ = ("_idle", "cap")

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self._idle: OrderedDict[Evictable, None] = OrderedDict()

    def idle(self, connection: Evictable) -> None:
        """``connection`` has just gone idle: it is now the last one to be evicted."""
        self._idle[connection] = None
        self._idle.move_to_end(connection)

    def busy(self, connection: Evictable) -> None:
        """A request is being answered on ``connection`` (or it is gone): not evictable."""
        self._idle.pop(connection, None)

    def admit(self, open_connections: int) -> bool:
        """A connection arrived, making ``open_connections``: beyond the cap, evict the
        longest idle one. False if none can be: the newcomer must go."""
        if open_connections <= self.cap:
            return True
        if not self._idle:
            return False
        oldest, _ = self._idle.popitem(last=False)
        oldest.evict()
        return True


class ServerConnections:
    """What the connections of one server share: the turn's writes, the limits, the idle list,
    and the server's default header fields as sent."""

    __slots__ = ("_default_fields", "_default_lines", "idle", "limits", "turn")

    def __init__(self, loop: asyncio.AbstractEventLoop, app: object) -> None:
        #: The app's ``flush_events`` runs before each turn's responses leave.
        self.turn = TurnWrites(loop, getattr(app, "flush_events", None))
        limits = getattr(app, "http_limits", None)
        self.limits: HttpLimits = limits if isinstance(limits, HttpLimits) else HttpLimits()
        self.idle = IdleConnections(self.limits.connection_cap())
        self._default_fields: list[tuple[bytes, bytes]] = []
        self._default_lines = b""

    def default_lines(self, fields: list[tuple[bytes, bytes]]) -> bytes:
        """``fields`` (uvicorn's default headers: the date, once a second) as header lines,
        encoded again only when they changed."""
        if fields != self._default_fields:
            self._default_lines = b"".join([n + b": " + v + b"\r\n" for n, v in fields])
            self._default_fields = list(fields)
        return self._default_lines
