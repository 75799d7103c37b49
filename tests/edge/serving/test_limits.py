"""The fast path hardened: request heads bounded in time and size, idle connections closed,
a cap on connections that evicts the longest idle, two Host fields refused (issue 13)."""

from __future__ import annotations

import asyncio
import select
import socket
import time

import pytest
import uvicorn
from uvicorn.server import ServerState

from edge.serving.connections import HttpLimits
from edge.serving.tracking import Reply
from edge.serving.uvicorn_internals import EdgeHttpProtocol
from tests.conftest import start_server
from tests.edge.serving.test_protocol import CLICK, read_response, without_date

TIMEOUT_408 = (
    b"HTTP/1.1 408 Request Timeout\r\nserver: uvicorn\r\ncontent-type: text/plain; "
    b"charset=utf-8\r\ncontent-length: 15\r\nconnection: close\r\n\r\nRequest Timeout"
)
TOO_LONG_414 = (
    b"HTTP/1.1 414 URI Too Long\r\nserver: uvicorn\r\ncontent-type: text/plain; "
    b"charset=utf-8\r\ncontent-length: 12\r\nconnection: close\r\n\r\nURI Too Long"
)
TOO_LARGE_431 = (
    b"HTTP/1.1 431 Request Header Fields Too Large\r\nserver: uvicorn\r\ncontent-type: "
    b"text/plain; charset=utf-8\r\ncontent-length: 31\r\nconnection: close\r\n\r\n"
    b"Request Header Fields Too Large"
)
TWO_HOSTS_400 = (
    b"HTTP/1.1 400 Bad Request\r\nserver: uvicorn\r\ncontent-type: text/plain; charset=utf-8"
    b"\r\ncontent-length: 45\r\nconnection: close\r\n\r\n"
    b"Bad Request: more than one Host header field\n"
)


def connect(port: int) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=5)


def read_to_end(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection."""
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


def send_until_answered(sock: socket.socket, first: bytes, more: bytes, most: int) -> int:
    """Send ``first``, then ``more`` again and again (``most`` bytes in all), each time only
    once the server has not answered for a moment; returns the bytes sent before the answer.
    Waiting keeps the server from closing with unread bytes, which would reset the
    connection and lose its answer."""
    sent = 0
    data = first
    while sent < most:
        sock.sendall(data)
        sent += len(data)
        readable, _, _ = select.select([sock], [], [], 0.2)
        if readable:
            return sent
        data = more
    return sent


def click(port: int, sock: socket.socket | None = None) -> bytes:
    """One click on ``sock`` (a new connection if ``None``); returns the response."""
    request = f"GET /e/{CLICK} HTTP/1.1\r\nHost: track.test\r\n\r\n".encode()
    if sock is None:
        with connect(port) as new:
            new.sendall(request)
            return read_response(new, bytearray())
    sock.sendall(request)
    return read_response(sock, bytearray())


# -- time ---------------------------------------------------------------------------------


def test_a_request_head_still_incomplete_after_the_head_timeout_is_a_408(
    other_settings, make_server
):
    live = make_server(other_settings(http_head_timeout=0.3))
    with connect(live.port) as sock:
        started = time.monotonic()
        # A byte every 50 ms: the connection is never idle, the head never ends.
        for byte in f"GET /e/{CLICK} HTTP/1.1\r\nHost: track.test\r\nX-Slow: ".encode():
            sock.sendall(bytes([byte]))
            if select.select([sock], [], [], 0.05)[0]:
                break
        response = read_to_end(sock)
        elapsed = time.monotonic() - started
    assert without_date(response) == TIMEOUT_408
    assert 0.25 < elapsed < 3.0


def test_a_new_connection_that_sends_nothing_is_closed_after_the_keep_alive_timeout(
    settings, make_server
):
    live = make_server(settings, timeout_keep_alive=0.3)
    with connect(live.port) as sock:
        started = time.monotonic()
        assert sock.recv(1) == b""  # closed by the server, with nothing said
        assert 0.25 < time.monotonic() - started < 3.0


# -- size ---------------------------------------------------------------------------------


def test_a_request_target_up_to_the_limit_is_read_and_one_byte_more_is_a_414(
    other_settings, make_server
):
    live = make_server(other_settings(http_max_request_line=200))
    at_limit = "/e/" + "a" * 197
    with connect(live.port) as sock:
        sock.sendall(f"GET {at_limit} HTTP/1.1\r\nHost: track.test\r\n\r\n".encode())
        assert read_response(sock, bytearray()).startswith(b"HTTP/1.1 404 Not Found\r\n")
    with connect(live.port) as sock:
        sock.sendall(f"GET {at_limit}a HTTP/1.1\r\nHost: track.test\r\n\r\n".encode())
        assert without_date(read_to_end(sock)) == TOO_LONG_414


def test_an_endless_request_line_is_a_414_once_the_limit_has_arrived(settings, make_server):
    live = make_server(settings)  # the default limit, 16 KiB
    with connect(live.port) as sock:
        sent = send_until_answered(sock, b"GET /e/", b"a" * 65536, 64 * 1024 * 1024)
        assert without_date(read_to_end(sock)) == TOO_LONG_414
    assert sent < 4 * 65536  # not the 64 MiB the client was ready to send
    assert click(live.port).startswith(b"HTTP/1.1 302 Found\r\n")  # the worker is not stalled


def test_a_head_over_the_limit_is_a_431(other_settings, make_server):
    live = make_server(other_settings(http_max_head=2000))
    fields = "".join(f"X-Field-{i}: {'v' * 40}\r\n" for i in range(20))  # about 1,100 bytes
    with connect(live.port) as sock:
        sock.sendall(f"GET /e/{CLICK} HTTP/1.1\r\nHost: track.test\r\n{fields}\r\n".encode())
        assert read_response(sock, bytearray()).startswith(b"HTTP/1.1 302 Found\r\n")
    with connect(live.port) as sock:
        sock.sendall(
            f"GET /e/{CLICK} HTTP/1.1\r\nHost: track.test\r\n{fields}{fields}\r\n".encode()
        )
        assert without_date(read_to_end(sock)) == TOO_LARGE_431


def test_an_endless_header_field_is_a_431_about_one_read_past_the_limit(settings, make_server):
    live = make_server(settings)  # the default limit, 64 KiB
    with connect(live.port) as sock:
        first = b"GET /robots.txt HTTP/1.1\r\nHost: track.test\r\nX-Big: "
        sent = send_until_answered(sock, first, b"a" * 65536, 16 * 1024 * 1024)
        assert without_date(read_to_end(sock)) == TOO_LARGE_431
    assert sent < 6 * 65536  # not the 16 MiB the client was ready to send


class _Wire:
    """A transport that keeps what is written (for driving the protocol without sockets)."""

    def __init__(self) -> None:
        self.written = b""

    def write(self, data: bytes) -> None:
        self.written += data

    def is_closing(self) -> bool:
        return False

    def close(self) -> None:
        pass

    def get_extra_info(self, name: str, default: object = None) -> object:
        return {"peername": ("127.0.0.1", 50000), "sockname": ("127.0.0.1", 80)}.get(name)


def test_a_request_line_arriving_in_many_small_reads_is_gathered_in_linear_time():
    """uvicorn's ``self.url += url`` copied the whole line again on each of 16,384 reads
    (128 GB for this 16 MiB line); gathered in a list it takes milliseconds."""
    paths: list[str] = []

    class App:
        http_limits = HttpLimits(max_request_line=1 << 30, max_head=1 << 30)

        def reply_now(self, method, path, headers, client) -> Reply:
            paths.append(path)
            return Reply(200, [(b"content-length", b"0")], b"")

    async def run() -> bytes:
        config = uvicorn.Config(
            App(), lifespan="off", log_level="warning", proxy_headers=False, interface="asgi3"
        )
        config.load()
        protocol = EdgeHttpProtocol(config=config, server_state=ServerState(), app_state={})
        wire = _Wire()
        protocol.connection_made(wire)  # type: ignore[arg-type]
        protocol.data_received(b"GET /")
        piece = b"a" * 1024
        for _ in range(16 * 1024):
            protocol.data_received(piece)
        protocol.data_received(b" HTTP/1.1\r\nHost: track.test\r\n\r\n")
        await asyncio.sleep(0)  # the turn ends: the response is written
        return wire.written

    started = time.process_time()
    written = asyncio.run(run())
    assert time.process_time() - started < 3.0
    assert [len(p) for p in paths] == [1 + 16 * 1024 * 1024]
    assert written.startswith(b"HTTP/1.1 200 OK\r\n")


# -- connections --------------------------------------------------------------------------


def test_beyond_the_connection_cap_a_new_connection_closes_the_longest_idle(
    other_settings, make_server
):
    live = make_server(other_settings(http_max_connections=4))
    held = [connect(live.port) for _ in range(4)]
    try:
        for sock in held:  # idle from now on, in this order
            assert click(live.port, sock).startswith(b"HTTP/1.1 302")
        held[1].sendall(b"GET /robots.txt HTTP/1.1\r\nHo")  # partway through a head
        assert click(live.port, held[0]).startswith(b"HTTP/1.1 302")  # now the latest idle
        # Longest idle first: held[1] (its head unfinished), then held[2].
        held.append(connect(live.port))
        assert click(live.port, held[4]).startswith(b"HTTP/1.1 302 Found\r\n")
        assert read_to_end(held[1]) == b""
        held.append(connect(live.port))
        assert click(live.port, held[5]).startswith(b"HTTP/1.1 302 Found\r\n")
        assert read_to_end(held[2]) == b""
        for sock in (held[0], held[3], held[4]):  # still served
            assert click(live.port, sock).startswith(b"HTTP/1.1 302")
    finally:
        for sock in held:
            sock.close()


class HeldRequests:
    """An app whose requests are answered only once released (each is busy until then)."""

    http_limits = HttpLimits(max_connections=2)

    def __init__(self) -> None:
        self.waiting = 0
        self.release: asyncio.Event | None = None

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                self.release = asyncio.Event()
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        self.waiting += 1
        assert self.release is not None
        await self.release.wait()
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})


def test_at_the_cap_with_every_connection_answering_a_request_a_new_one_is_closed():
    app = HeldRequests()
    live = start_server(app)  # type: ignore[arg-type]
    busy = [connect(live.port) for _ in range(2)]
    try:
        for sock in busy:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: track.test\r\n\r\n")
        deadline = time.monotonic() + 5
        while app.waiting < 2:  # both requests are being answered
            assert time.monotonic() < deadline
            time.sleep(0.01)
        with connect(live.port) as newcomer:
            assert read_to_end(newcomer) == b""
        assert app.release is not None
        live.loop.call_soon_threadsafe(app.release.set)
        for sock in busy:
            assert read_response(sock, bytearray()).startswith(b"HTTP/1.1 204 No Content\r\n")
    finally:
        for sock in busy:
            sock.close()
        live.stop()


# -- two Host fields ------------------------------------------------------------------------


def test_two_host_fields_are_a_400_and_the_connection_closes_on_every_path(live_server):
    requests = [
        f"GET /e/{CLICK} HTTP/1.1\r\nHost: track.test\r\nHost: track.test\r\n\r\n",  # fast
        f"GET /e/{CLICK}?x=1 HTTP/1.1\r\nHost: track.test\r\nHost: evil.test\r\n\r\n",  # ASGI
        "GET /healthz HTTP/1.1\r\nHost: admin.test\r\nHost: admin.test\r\n\r\n",  # admin API
    ]
    for request in requests:
        with connect(live_server.port) as sock:
            sock.sendall(request.encode())
            assert without_date(read_to_end(sock)) == TWO_HOSTS_400
    db = live_server.app.runtime
    assert db.recorder.pending + db.recorder.spooled == 0  # no click recorded


# -- what follows a refusal or a closing answer ----------------------------------------------


def recorded(live) -> int:
    """Clicks and opens the server has recorded (in memory or in the spool)."""
    recorder = live.app.runtime.recorder
    return recorder.pending + recorder.spooled


PIPELINED_CLICK = f"GET /e/{CLICK} HTTP/1.1\r\nHost: track.test\r\n\r\n".encode()


@pytest.mark.parametrize(
    "first",
    [
        b"GET /robots.txt HTTP/1.1\r\nHost: track.test\r\nHost: track.test\r\n\r\n",
        b"GET /robots.txt HTTP/1.0\r\nHost: track.test\r\nConnection: keep-alive\r\n\r\n",
    ],
    ids=["two-hosts-400", "http-1.0-keep-alive"],
)
def test_a_click_pipelined_behind_an_answer_that_closes_is_neither_answered_nor_recorded(
    live_server, first
):
    with connect(live_server.port) as sock:
        sock.sendall(first + PIPELINED_CLICK)
        answers = read_to_end(sock)
    assert answers.count(b"HTTP/1.1 ") == 1
    assert recorded(live_server) == 0


def test_a_414_behind_a_request_under_way_follows_its_answer(other_settings, make_server):
    live = make_server(other_settings(http_max_request_line=200))
    with connect(live.port) as sock:
        # The query sends the click down uvicorn's ASGI path: answered in a later turn.
        sock.sendall(
            f"GET /e/{CLICK}?x=1 HTTP/1.1\r\nHost: track.test\r\n\r\n".encode()
            + b"GET /" + b"a" * 300 + b" HTTP/1.1\r\nHost: track.test\r\n\r\n"
        )
        answers = read_to_end(sock)
    first, _, rest = answers.partition(b"\r\n\r\n")
    assert first.startswith(b"HTTP/1.1 302 Found\r\n")
    assert without_date(rest.partition(b"</a>\n")[2]) == TOO_LONG_414
    assert recorded(live) == 1


def test_bytes_that_begin_no_request_do_not_hold_a_connection_past_its_keep_alive(
    settings, make_server
):
    live = make_server(settings, timeout_keep_alive=0.3)
    with connect(live.port) as sock:
        sock.sendall(b"\r\n")  # read and skipped by the parser: no request begins
        started = time.monotonic()
        assert sock.recv(1) == b""
        assert time.monotonic() - started < 2.0
