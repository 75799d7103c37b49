"""The coalescing transport: what one loop iteration writes leaves in one write."""

from __future__ import annotations

import asyncio
import socket

from edge.protocol import CoalescingTransport
from edge.tokens import TokenCodec
from tests.conftest import SECRET


class RecordingTransport:
    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closed = False
        self.aborted = False

    def write(self, data: bytes) -> None:
        self.writes.append(data)

    def is_closing(self) -> bool:
        return self.closed or self.aborted

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.aborted = True

    def get_write_buffer_size(self) -> int:
        return 0

    def get_extra_info(self, name: str) -> str:
        return f"extra:{name}"


def test_writes_of_one_iteration_leave_as_one_write_at_its_end():
    async def run() -> list[bytes]:
        inner = RecordingTransport()
        transport = CoalescingTransport(inner, asyncio.get_running_loop())
        transport.write(b"HTTP/1.1 302 Found\r\n\r\n")
        transport.write(b"")
        transport.write(memoryview(b"<a>body</a>"))
        assert inner.writes == []
        assert transport.get_write_buffer_size() == 33
        await asyncio.sleep(0)
        transport.write(b"next")
        await asyncio.sleep(0)
        return inner.writes

    assert asyncio.run(run()) == [b"HTTP/1.1 302 Found\r\n\r\n<a>body</a>", b"next"]


def test_close_sends_what_was_written_before_it():
    async def run() -> RecordingTransport:
        inner = RecordingTransport()
        transport = CoalescingTransport(inner, asyncio.get_running_loop())
        transport.write(b"last words")
        transport.close()
        await asyncio.sleep(0)
        return inner

    inner = asyncio.run(run())
    assert (inner.writes, inner.closed) == ([b"last words"], True)


def test_abort_drops_what_is_pending():
    async def run() -> RecordingTransport:
        inner = RecordingTransport()
        transport = CoalescingTransport(inner, asyncio.get_running_loop())
        transport.write(b"never sent")
        transport.abort()
        await asyncio.sleep(0)
        return inner

    inner = asyncio.run(run())
    assert (inner.writes, inner.aborted) == ([], True)


def test_other_transport_methods_are_the_wrapped_transports():
    loop = asyncio.new_event_loop()
    try:
        transport = CoalescingTransport(RecordingTransport(), loop)
        assert transport.get_extra_info("peername") == "extra:peername"
        assert transport.is_closing() is False
    finally:
        loop.close()


def test_a_redirect_arrives_in_one_segment(live_server):
    """Over a real socket: the whole response is in the first recv, headers and body."""
    token = TokenCodec([SECRET]).sign_click(1, "https://example.com/")
    with socket.create_connection(("127.0.0.1", live_server.port)) as sock:
        sock.sendall(f"GET /e/{token} HTTP/1.1\r\nHost: track.test\r\n\r\n".encode())
        first = sock.recv(65536)
    head, _, body = first.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 302 Found\r\n")
    assert body == b'<!doctype html><a href="https://example.com/">Continue</a>\n'
