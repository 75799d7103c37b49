"""The HTTP protocol: the tracking fast path, the lazy keep-alive timeout, and the coalescing
transport (what one loop iteration writes leaves in one write)."""

from __future__ import annotations

import asyncio
import logging
import re
import socket
import time

from edge.serving.connections import CoalescingTransport, TurnWrites
from edge.serving.uvicorn_internals import EdgeHttpProtocol
from edge.tokens.codec import TokenCodec
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
        transport = CoalescingTransport(inner, TurnWrites(asyncio.get_running_loop()))
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
        transport = CoalescingTransport(inner, TurnWrites(asyncio.get_running_loop()))
        transport.write(b"last words")
        transport.close()
        await asyncio.sleep(0)
        return inner

    inner = asyncio.run(run())
    assert (inner.writes, inner.closed) == ([b"last words"], True)


def test_abort_drops_what_is_pending():
    async def run() -> RecordingTransport:
        inner = RecordingTransport()
        transport = CoalescingTransport(inner, TurnWrites(asyncio.get_running_loop()))
        transport.write(b"never sent")
        transport.abort()
        await asyncio.sleep(0)
        return inner

    inner = asyncio.run(run())
    assert (inner.writes, inner.aborted) == ([], True)


def test_the_turns_events_are_written_once_before_any_of_its_responses():
    log: list[str] = []

    class Logged(RecordingTransport):
        def __init__(self, name: str) -> None:
            super().__init__()
            self.name = name

        def write(self, data: bytes) -> None:
            log.append(f"{self.name}: {data.decode()}")

    async def run() -> None:
        turn = TurnWrites(asyncio.get_running_loop(), before=lambda: log.append("events"))
        first = CoalescingTransport(Logged("first"), turn)
        second = CoalescingTransport(Logged("second"), turn)
        first.write(b"302")
        second.write(b"200")
        first.write(b" body")
        assert log == []
        await asyncio.sleep(0)
        second.write(b"next turn")
        await asyncio.sleep(0)

    asyncio.run(run())
    assert log == [
        "events",
        "first: 302 body",
        "second: 200",
        "events",
        "second: next turn",
    ]


def test_a_connection_whose_write_fails_does_not_hold_the_turns_other_answers():
    class Broken(RecordingTransport):
        def write(self, data: bytes) -> None:
            raise RuntimeError("Cannot call write() after write_eof()")

    async def run() -> list[bytes]:
        turn = TurnWrites(asyncio.get_running_loop())
        broken, inner = Broken(), RecordingTransport()
        CoalescingTransport(broken, turn).write(b"302")
        CoalescingTransport(inner, turn).write(b"200")
        await asyncio.sleep(0)
        return inner.writes

    assert asyncio.run(run()) == [b"200"]


def test_what_is_written_after_write_eof_is_dropped():
    class HalfClosable(RecordingTransport):
        def write_eof(self) -> None:
            self.writes.append(b"<eof>")

    async def run() -> list[bytes]:
        inner = HalfClosable()
        transport = CoalescingTransport(inner, TurnWrites(asyncio.get_running_loop()))
        transport.write(b"414")
        transport.write_eof()
        transport.write(b"302")
        await asyncio.sleep(0)
        return inner.writes

    assert asyncio.run(run()) == [b"414", b"<eof>"]


def test_a_close_writes_the_events_before_what_was_held():
    log: list[str] = []

    class Logged(RecordingTransport):
        def write(self, data: bytes) -> None:
            log.append(data.decode())

    async def run() -> None:
        turn = TurnWrites(asyncio.get_running_loop(), before=lambda: log.append("events"))
        transport = CoalescingTransport(Logged(), turn)
        transport.write(b"HTTP/1.0 302")
        transport.close()
        assert log == ["events", "HTTP/1.0 302"]  # at once, not at the end of the turn

    asyncio.run(run())


def test_other_transport_methods_are_the_wrapped_transports():
    loop = asyncio.new_event_loop()
    try:
        transport = CoalescingTransport(RecordingTransport(), TurnWrites(loop))
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


CLICK = TokenCodec([SECRET]).sign_click(1, "https://example.com/a?b=1&c=2")


def read_response(sock: socket.socket, buffer: bytearray, head_only: bool = False) -> bytes:
    """One whole response from ``sock`` (``buffer`` keeps what arrived after it)."""
    while b"\r\n\r\n" not in buffer:
        data = sock.recv(65536)
        if not data:
            raise ConnectionError("closed before a response")
        buffer += data
    end = buffer.index(b"\r\n\r\n") + 4
    match = re.search(rb"(?i)\r\ncontent-length: (\d+)", bytes(buffer[:end]))
    length = 0 if head_only or match is None else int(match.group(1))
    while len(buffer) < end + length:
        buffer += sock.recv(65536)
    response = bytes(buffer[: end + length])
    del buffer[: end + length]
    return response


def exchange(port: int, request: bytes, count: int = 1, head_only: bool = False) -> list[bytes]:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(request)
        buffer = bytearray()
        return [read_response(sock, buffer, head_only) for _ in range(count)]


def without_date(response: bytes) -> bytes:
    return re.sub(rb"\r\ndate: [^\r]*", b"", response)


def test_fast_path_and_asgi_path_answer_with_the_same_bytes(live_server):
    # A query string sends the request down uvicorn's ASGI path; the token is the same.
    fast = exchange(
        live_server.port, f"GET /e/{CLICK} HTTP/1.1\r\nHost: track.test\r\n\r\n".encode()
    )
    slow = exchange(
        live_server.port, f"GET /e/{CLICK}?x=1 HTTP/1.1\r\nHost: track.test\r\n\r\n".encode()
    )
    assert without_date(fast[0]) == without_date(slow[0])
    assert fast[0].startswith(b"HTTP/1.1 302 Found\r\n")
    assert b"\r\nlocation: https://example.com/a?b=1&c=2\r\n" in fast[0]
    assert re.search(rb"\r\ndate: \w{3}, \d\d \w{3} \d{4} ", fast[0])
    assert live_server.app.runtime.recorder.pending + live_server.app.runtime.recorder.spooled == 2


def test_tracking_requests_are_answered_without_an_asgi_task(live_server, monkeypatch):
    started: list[str] = []
    asgi_task = EdgeHttpProtocol._start_asgi_task

    def counting(self, cycle, app):
        started.append(cycle.scope["path"])
        asgi_task(self, cycle, app)

    monkeypatch.setattr(EdgeHttpProtocol, "_start_asgi_task", counting)
    requests = (
        f"GET /e/{CLICK} HTTP/1.1\r\nHost: track.test\r\n\r\n"
        "GET /o/bad HTTP/1.1\r\nHost: track.test\r\n\r\n"
        "GET /healthz HTTP/1.1\r\nHost: admin.test\r\n\r\n"
    )
    responses = exchange(live_server.port, requests.encode(), count=3)
    assert [r[:12] for r in responses] == [b"HTTP/1.1 302", b"HTTP/1.1 200", b"HTTP/1.1 200"]
    assert started == ["/healthz"]


def test_a_fragment_in_the_request_target_is_ignored_on_both_paths(live_server):
    plain = f"GET /e/{CLICK} HTTP/1.1\r\nHost: track.test\r\n\r\n".encode()
    fragment = f"GET /e/{CLICK}#top HTTP/1.1\r\nHost: track.test\r\n\r\n".encode()
    (expected,) = exchange(live_server.port, plain)
    (got,) = exchange(live_server.port, fragment)
    assert without_date(got) == without_date(expected)


def test_fast_path_head_has_the_get_headers_and_no_body(live_server):
    request = f"HEAD /e/{CLICK} HTTP/1.1\r\nHost: track.test\r\n\r\n".encode()
    (head,) = exchange(live_server.port, request, head_only=True)
    (get,) = exchange(live_server.port, request.replace(b"HEAD", b"GET", 1))
    assert without_date(head) == without_date(get).partition(b"\r\n\r\n")[0] + b"\r\n\r\n"


def test_pipelined_requests_are_answered_in_order_across_both_paths(live_server):
    requests = (
        f"GET /e/{CLICK} HTTP/1.1\r\nHost: track.test\r\n\r\n"
        "GET /healthz HTTP/1.1\r\nHost: admin.test\r\n\r\n"  # the ASGI path
        "GET /robots.txt HTTP/1.1\r\nHost: track.test\r\n\r\n"
        f"GET /e/{CLICK} HTTP/1.1\r\nHost: unknown.test\r\n\r\n"
    )
    responses = exchange(live_server.port, requests.encode(), count=4)
    assert [r.split(b"\r\n", 1)[0] for r in responses] == [
        b"HTTP/1.1 302 Found",
        b"HTTP/1.1 200 OK",
        b"HTTP/1.1 200 OK",
        b"HTTP/1.1 404 Not Found",
    ]
    assert b'"status":"ok"' in responses[1]
    assert responses[2].endswith(b"User-agent: *\nDisallow: /\n")


def test_http_1_0_gets_connection_close_and_the_connection_ends(live_server):
    with socket.create_connection(("127.0.0.1", live_server.port), timeout=5) as sock:
        sock.sendall(f"GET /e/{CLICK} HTTP/1.0\r\nHost: track.test\r\n\r\n".encode())
        response = read_response(sock, bytearray())
        assert b"\r\nconnection: close\r\n" in response
        assert sock.recv(1) == b""  # closed by the server


def test_a_get_with_a_body_takes_the_asgi_path_and_the_connection_stays_usable(live_server):
    requests = (
        f"GET /e/{CLICK} HTTP/1.1\r\nHost: track.test\r\nContent-Length: 5\r\n\r\nhello"
        f"GET /e/{CLICK} HTTP/1.1\r\nHost: track.test\r\n\r\n"
    )
    first, second = exchange(live_server.port, requests.encode(), count=2)
    assert without_date(first) == without_date(second)


def test_an_idle_connection_is_closed_after_the_keep_alive_timeout(settings, make_server):
    live = make_server(settings, timeout_keep_alive=0.3)
    with socket.create_connection(("127.0.0.1", live.port), timeout=5) as sock:
        buffer = bytearray()
        # Busy for longer than the timeout, a request every 0.1 s: the connection stays.
        for _ in range(6):
            sock.sendall(f"GET /e/{CLICK} HTTP/1.1\r\nHost: track.test\r\n\r\n".encode())
            assert read_response(sock, buffer).startswith(b"HTTP/1.1 302")
            time.sleep(0.1)
        idle_from = time.monotonic()
        assert sock.recv(1) == b""  # then idle: closed by the server
        assert 0.15 < time.monotonic() - idle_from < 2.0


def test_an_error_in_the_fast_path_is_a_500_and_the_connection_closes(live_server, monkeypatch):
    def broken(*args):
        raise RuntimeError("bug")

    monkeypatch.setattr(live_server.app.tracking, "reply", broken)
    with socket.create_connection(("127.0.0.1", live_server.port), timeout=5) as sock:
        sock.sendall(f"GET /e/{CLICK} HTTP/1.1\r\nHost: track.test\r\n\r\n".encode())
        response = read_response(sock, bytearray())
        assert response.startswith(b"HTTP/1.1 500 Internal Server Error\r\n")
        assert sock.recv(1) == b""


def test_the_fast_path_writes_uvicorns_access_log_line_when_it_is_on(live_server):
    class Lines(logging.Handler):
        def __init__(self) -> None:
            super().__init__()
            self.lines: list[str] = []

        def emit(self, record: logging.LogRecord) -> None:
            self.lines.append(record.getMessage())

    logger = logging.getLogger("uvicorn.access")
    handler, level = Lines(), logger.level
    logger.addHandler(handler)  # what makes uvicorn's access log "on" for new connections
    logger.setLevel(logging.INFO)
    try:
        (response,) = exchange(
            live_server.port, f"GET /e/{CLICK} HTTP/1.1\r\nHost: track.test\r\n\r\n".encode()
        )
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    assert response.startswith(b"HTTP/1.1 302")
    (line,) = handler.lines
    assert re.fullmatch(rf'127\.0\.0\.1:\d+ - "GET /e/{re.escape(CLICK)} HTTP/1\.1" 302', line)


def test_the_asgi_path_writes_the_event_to_the_spool_before_the_response(live_server):
    recorder = live_server.app.runtime.recorder
    pending_when_answered: list[int] = []

    async def receive() -> dict:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict) -> None:
        if message["type"] == "http.response.start":
            pending_when_answered.append(recorder.pending)

    async def click() -> None:
        scope = {
            "type": "http",
            "method": "GET",
            "path": f"/e/{CLICK}",
            "headers": [(b"host", b"track.test")],
            "client": ("127.0.0.1", 50000),
        }
        await live_server.app(scope, receive, send)

    live_server.call(click)
    assert (pending_when_answered, recorder.spooled) == ([0], 1)
