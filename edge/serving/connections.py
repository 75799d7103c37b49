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

The protocol that uses these parts is in :mod:`edge.serving.uvicorn_internals`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

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
            transport.send()

    def before_send(self) -> None:
        if self._before is not None:
            try:
                self._before()
            except Exception:  # the responses still go out; the events stay pending
                log.exception("Exception before sending responses")


class CoalescingTransport:
    """Proxies an ``asyncio.Transport``; writes are held until the end of the loop turn."""

    __slots__ = ("_buffer", "_transport", "_turn")

    def __init__(self, transport: asyncio.Transport, turn: TurnWrites) -> None:
        self._transport = transport
        self._turn = turn
        self._buffer: list[bytes] | None = None

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if not data:
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
