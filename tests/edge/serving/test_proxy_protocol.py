"""The PROXY protocol before TLS: the client's address from a balancer passing TLS through."""

from __future__ import annotations

import socket
import ssl
import struct
from dataclasses import replace

import pytest

from admin.ssl.local_ca import LocalCA
from edge.model.domains import TrackingHost
from edge.serving.proxy_protocol import (
    V2_SIGNATURE,
    ProxyHeader,
    ProxyHeaderError,
    parse_v1,
    parse_v2,
)
from edge.tokens.links import LinkBuilder
from tests.fixtures_https import put_certificate
from tests.stores import stored_events

LANDING = "https://shop.example/landing"


def v2(command: int, family: int, body: bytes) -> bytes:
    return V2_SIGNATURE + bytes([0x20 | command, family]) + struct.pack("!H", len(body)) + body


def v2_tcp4(source: str, port: int) -> bytes:
    addresses = socket.inet_aton(source) + socket.inet_aton("127.0.0.1")
    return v2(1, 0x11, addresses + struct.pack("!HH", port, 443))


# -- the headers ------------------------------------------------------------------------------


def test_a_version_1_header_names_the_client():
    line = b"PROXY TCP4 198.51.100.7 192.0.2.1 40000 443\r\n"
    assert parse_v1(line) == ProxyHeader(("198.51.100.7", 40000))


def test_a_version_1_header_over_ipv6_names_the_client():
    line = b"PROXY TCP6 2001:db8::7 2001:db8::1 40000 443\r\n"
    assert parse_v1(line) == ProxyHeader(("2001:db8::7", 40000))


def test_a_version_1_unknown_header_leaves_the_peer_as_the_client():
    assert parse_v1(b"PROXY UNKNOWN\r\n") == ProxyHeader(None)


@pytest.mark.parametrize(
    "line",
    [
        b"PROXY TCP4 198.51.100.7 192.0.2.1 40000\r\n",
        b"PROXY TCP4 2001:db8::7 192.0.2.1 40000 443\r\n",
        b"PROXY TCP4 198.51.100.7 192.0.2.1 +4000 443\r\n",
        b"PROXY UDP4 198.51.100.7 192.0.2.1 40000 443\r\n",
    ],
)
def test_a_malformed_version_1_header_is_refused(line):
    with pytest.raises(ProxyHeaderError, match="malformed version 1 header"):
        parse_v1(line)


def test_a_version_2_header_names_the_client():
    header = v2_tcp4("198.51.100.7", 40000)
    assert parse_v2(header[12:]) == ProxyHeader(("198.51.100.7", 40000))


def test_a_version_2_local_header_leaves_the_peer_as_the_client():
    assert parse_v2(v2(0, 0x00, b"")[12:]) == ProxyHeader(None)


def test_a_version_2_header_of_another_version_is_refused():
    header = bytearray(v2_tcp4("198.51.100.7", 40000)[12:])
    header[0] = 0x31
    with pytest.raises(ProxyHeaderError, match="version 2 header of version 3"):
        parse_v2(bytes(header))


# -- the listener -----------------------------------------------------------------------------


@pytest.fixture
def proxied(settings, make_https_server):
    """An HTTPS listener expecting the header from 127.0.0.0/8, with a certificate for the
    default domain; returns it and a function that clicks after sending a given prefix."""
    settings = replace(settings, https_proxy_protocol=True, trusted_proxies=("127.0.0.0/8",))
    return _listener(settings, make_https_server)


def _listener(settings, make_https_server):
    name = settings.default_domain
    issued = LocalCA(settings.data_dir / "local-ca").issue_now(name)
    put_certificate(settings, name, issued.chain_pem, issued.key_pem)
    live = make_https_server(settings)
    root = (settings.data_dir / "local-ca" / "root.pem").read_text()
    links = LinkBuilder(live.app.runtime.codec, 80, live.https_port)
    url = links.click_url(TrackingHost(name, None, True, True), 1, LANDING)
    path = url[url.index("/e/") :]

    def click(prefix: bytes) -> bytes:
        """Send ``prefix``, then a click over TLS; return the response's first line."""
        ctx = ssl.create_default_context(cadata=root)
        with socket.create_connection(("127.0.0.1", live.https_port), timeout=5) as raw:
            raw.sendall(prefix)
            with ctx.wrap_socket(raw, server_hostname=name) as tls:
                tls.sendall(f"GET {path} HTTP/1.1\r\nHost: {name}\r\n\r\n".encode())
                return tls.recv(4096).split(b"\r\n")[0]

    return live, click


def test_a_click_behind_a_version_1_header_is_stored_with_the_clients_address(proxied):
    live, click = proxied
    assert click(b"PROXY TCP4 198.51.100.7 127.0.0.1 40000 443\r\n") == b"HTTP/1.1 302 Found"
    live.call(live.app.runtime.drain)
    assert [e.client_ip for e in stored_events(live.settings)] == ["198.51.100.7"]


def test_a_click_behind_a_version_2_header_is_stored_with_the_clients_address(proxied):
    live, click = proxied
    assert click(v2_tcp4("203.0.113.9", 40000)) == b"HTTP/1.1 302 Found"
    live.call(live.app.runtime.drain)
    assert [e.client_ip for e in stored_events(live.settings)] == ["203.0.113.9"]


def test_a_balancers_own_connection_is_the_client(proxied):
    live, click = proxied
    assert click(b"PROXY UNKNOWN\r\n") == b"HTTP/1.1 302 Found"
    live.call(live.app.runtime.drain)
    assert [e.client_ip for e in stored_events(live.settings)] == ["127.0.0.1"]


def closed_because(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "edge.proxy_protocol"]


def test_a_connection_without_the_header_is_closed_and_nothing_stored(proxied, caplog):
    live, click = proxied
    with pytest.raises((ssl.SSLError, ConnectionError)):
        click(b"")
    live.call(live.app.runtime.drain)
    assert stored_events(live.settings) == []
    assert closed_because(caplog) == [
        "HTTPS connection from 127.0.0.1 closed: no PROXY protocol header"
    ]


def test_a_header_from_outside_the_trusted_proxies_is_not_believed(
    settings, make_https_server, caplog
):
    settings = replace(settings, https_proxy_protocol=True, trusted_proxies=("10.0.0.0/8",))
    live, _ = _listener(settings, make_https_server)
    # Closed before any TLS: read on the bare socket. (Through ssl.wrap_socket, a reset met
    # before the handshake can leave its socket unclosed inside the ssl module, a
    # ResourceWarning at some later collection.)
    with socket.create_connection(("127.0.0.1", live.https_port), timeout=5) as raw:
        raw.sendall(b"PROXY TCP4 198.51.100.7 127.0.0.1 40000 443\r\n")
        try:
            answer = raw.recv(4096)
        except ConnectionResetError:
            answer = b""
    assert answer == b""
    live.call(live.app.runtime.drain)
    assert stored_events(live.settings) == []
    assert closed_because(caplog) == [
        "HTTPS connection from 127.0.0.1 closed: 127.0.0.1 is not in EDGE_TRUSTED_PROXIES"
    ]


def test_a_stopped_listener_lets_go_of_its_port(proxied):
    live, _ = proxied
    live.stop()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", live.https_port), timeout=5).close()
