"""What an HTTP connection of the edge needs besides uvicorn: plain asyncio, no uvicorn import.

uvicorn writes the status line and headers when the app sends ``http.response.start`` and
the body when it sends ``http.response.body``: two ``write`` calls, and with ``TCP_NODELAY``
two TCP segments, for a response the app hands over whole. A redirect with its short body
(RFC 9110 §15.4.3: a short hypertext note with a hyperlink) thus cost a second syscall on the
server and a second read on the client. :class:`CoalescingTransport` gathers what is written
during one iteration of the event loop and sends it at the end of that iteration: nothing
waits longer than the current iteration, and a response sent whole leaves in one piece.

The protocol that uses these parts is in :mod:`edge.serving.uvicorn_internals`.
"""

from __future__ import annotations

import asyncio
from typing import Any


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
