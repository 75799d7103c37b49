"""The HTTP reachability check, against a real edge in uvicorn and the loopback DNS server."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from admin.domains.reachability import ReachabilityChecker, ReachCheck
from admin.outbound.policy import AddressPolicy
from edge.config import ConfigError, Settings
from edge.serving.server import EdgeServer, Runtime
from edge.tokens.codec import TokenCodec
from tests.conftest import SECRET, LiveServer, free_port, start_server

DOMAIN = "track.brand.test"
REFUSED = "not a public address (EDGE_VERIFY_ALLOW_NETWORKS can allow its network)"


@pytest.fixture
def records(dns_server):
    """``track.brand.test`` CNAME ``edge.test``, which is 127.0.0.1."""
    dns_server.set_cname(DOMAIN, "edge.test")
    dns_server.set_a("edge.test", "127.0.0.1")
    return dns_server


@pytest.fixture
def edge_servers() -> Iterator[list[LiveServer]]:
    started: list[LiveServer] = []
    yield started
    for live in started:
        live.stop()


@pytest.fixture
def edge(settings: Settings, edge_servers) -> LiveServer:
    """The edge alone (no admin app) in uvicorn: it answers the proof path on every host."""
    live = start_server(EdgeServer(Runtime.build(settings)))
    edge_servers.append(live)
    return live


def checker(dns_server, port: int, **kwargs) -> ReachabilityChecker:
    kwargs.setdefault("dns_timeout", 1.0)
    return ReachabilityChecker(
        TokenCodec([SECRET]), port=port, nameservers=[dns_server.nameserver], **kwargs
    )


def run(checker: ReachabilityChecker, domain: str = DOMAIN) -> ReachCheck:
    return asyncio.run(checker.check(domain))


class _Recorder(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.server.requests.append((self.path, self.headers["host"]))  # type: ignore[attr-defined]
        body = b"not found"
        self.send_response(404)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def other_http() -> Iterator[ThreadingHTTPServer]:
    """A plain HTTP server on loopback that answers 404 and records ``(path, host)``."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    server.requests = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join()


def test_domain_reaching_this_edge_is_ok(records, edge):
    url = f"http://{DOMAIN}:{edge.port}"
    assert run(checker(records, edge.port)) == ReachCheck(True, url, f"{url} reaches this edge")


def test_edge_with_another_secret_is_not_this_edge(records, edge_servers, settings, tmp_path):
    other = replace(settings, secret_keys=("another",), data_dir=tmp_path / "b")
    stranger = start_server(EdgeServer(Runtime.build(other)))
    edge_servers.append(stranger)
    assert run(checker(records, stranger.port)) == ReachCheck(
        False,
        f"http://{DOMAIN}:{stranger.port}",
        f"127.0.0.1:{stranger.port} answered, but not with this edge's proof for {DOMAIN}",
    )


def test_other_server_answering_an_error_status(records, other_http):
    port = other_http.server_address[1]
    assert run(checker(records, port)) == ReachCheck(
        False,
        f"http://{DOMAIN}:{port}",
        f"127.0.0.1:{port} answered HTTP 404 to /.well-known/tracking-edge/verify",
    )
    assert other_http.requests == [("/.well-known/tracking-edge/verify", f"{DOMAIN}:{port}")]


def test_nothing_listening_is_a_connection_failure(records):
    port = free_port()
    assert run(checker(records, port)) == ReachCheck(
        False, f"http://{DOMAIN}:{port}", f"could not connect to 127.0.0.1:{port}", True
    )


def test_silent_server_times_out_within_the_bound(records):
    with socket.socket() as listener:
        # The kernel accepts the connection; nobody ever reads or answers.
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        port = listener.getsockname()[1]
        slow = checker(records, port)
        slow.http_timeout = 0.5
        started = time.monotonic()
        result = run(slow)
        elapsed = time.monotonic() - started
    assert result == ReachCheck(
        False, f"http://{DOMAIN}:{port}", f"no answer from 127.0.0.1:{port} within 0.5 s", True
    )
    assert 0.45 <= elapsed < 1.0


def test_trickling_server_is_cut_off_at_the_bound(records):
    stop = threading.Event()

    def trickle(listener: socket.socket) -> None:
        conn, _ = listener.accept()
        with conn:
            conn.recv(4096)
            conn.sendall(b"HTTP/1.1 200 OK\r\ncontent-length: 32\r\n\r\n")
            while not stop.wait(0.1):  # a byte per 0.1 s: no single read ever times out
                conn.sendall(b"0")

    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        port = listener.getsockname()[1]
        server = threading.Thread(target=trickle, args=(listener,))
        server.start()
        slow = checker(records, port)
        slow.http_timeout = 0.5
        started = time.monotonic()
        result = run(slow)
        elapsed = time.monotonic() - started
        stop.set()
        server.join()
    assert result.reason == f"no answer from 127.0.0.1:{port} within 0.5 s"
    assert result.temporary is True
    assert elapsed < 1.0


def test_unknown_name_is_no_such_name(dns_server):
    assert run(checker(dns_server, 80)) == ReachCheck(
        False, f"http://{DOMAIN}:80", f"no such name: {DOMAIN}"
    )


def test_name_without_addresses(dns_server):
    dns_server.set_empty(DOMAIN)
    assert run(checker(dns_server, 80)).reason == f"no address (A or AAAA record) for {DOMAIN}"


def test_dns_timeout_is_bounded(records):
    records.stop_answering()
    started = time.monotonic()
    result = run(checker(records, 80, dns_timeout=0.5))
    assert (result.reason, result.temporary) == ("DNS resolver timed out after 0.5 s", True)
    assert time.monotonic() - started < 1.0


def test_addresses_come_from_the_configured_resolver(records, edge):
    run(checker(records, edge.port))
    assert sorted(records.queries) == [(DOMAIN, "A"), (DOMAIN, "AAAA")]


def test_aaaa_only_name_is_fetched_over_ipv6(dns_server, other_http):
    # Nothing listens on [::1] at this port, so the attempt fails there: the address used
    # is the AAAA one, not a re-resolution of the name by the HTTP client.
    dns_server.set_aaaa(DOMAIN, "::1")
    port = other_http.server_address[1]
    assert run(checker(dns_server, port)).reason == f"could not connect to [::1]:{port}"
    assert other_http.requests == []


def test_loopback_refused_when_no_network_is_allowed(records, other_http):
    port = other_http.server_address[1]
    strict = checker(records, port, policy=AddressPolicy(()))
    assert run(strict) == ReachCheck(
        False, f"http://{DOMAIN}:{port}", f"refusing to connect to 127.0.0.1: {REFUSED}"
    )
    assert other_http.requests == []


class _NoConnections(httpx.AsyncBaseTransport):
    """Fails the test if a request is attempted; forwards to loopback ones otherwise."""

    def __init__(self) -> None:
        self.hosts: list[str] = []
        self._real = httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.hosts.append(request.url.host)
        if request.url.host != "127.0.0.1":
            raise AssertionError(f"connection attempted to {request.url.host}")
        return await self._real.handle_async_request(request)

    async def aclose(self) -> None:
        await self._real.aclose()


def test_private_address_is_refused_before_any_connection(dns_server):
    dns_server.set_a(DOMAIN, "10.0.0.1")
    transport = _NoConnections()
    assert run(checker(dns_server, 80, transport=transport)) == ReachCheck(
        False, f"http://{DOMAIN}:80", f"refusing to connect to 10.0.0.1: {REFUSED}"
    )
    assert transport.hosts == []


def test_only_allowed_addresses_of_a_mixed_answer_are_tried(dns_server, edge):
    dns_server.set_a(DOMAIN, "169.254.169.254", "10.0.0.1", "127.0.0.1")
    transport = _NoConnections()
    result = run(checker(dns_server, edge.port, transport=transport))
    assert (result.ok, transport.hosts) == (True, ["127.0.0.1"])


@pytest.mark.parametrize("address", ["::ffff:0:a9fe:a9fe", "fec0::1", "64:ff9b::a9fe:a9fe"])
def test_ipv6_forms_of_internal_addresses_are_refused_before_any_connection(dns_server, address):
    dns_server.set_aaaa(DOMAIN, address)
    transport = _NoConnections()
    assert run(checker(dns_server, 80, transport=transport)) == ReachCheck(
        False, f"http://{DOMAIN}:80", f"refusing to connect to {address}: {REFUSED}"
    )
    assert transport.hosts == []


def test_rebinding_name_is_fetched_at_the_address_that_was_checked(dns_server, edge):
    # First answer: the edge's address; every later one, with TTL 0, a refused one.
    dns_server.set_a_sequence(DOMAIN, ["127.0.0.1"], ["127.0.0.2"], ttl=0)
    policy = AddressPolicy(["127.0.0.1/32"])
    result = run(checker(dns_server, edge.port, policy=policy))
    assert result == ReachCheck(
        True, f"http://{DOMAIN}:{edge.port}", f"http://{DOMAIN}:{edge.port} reaches this edge"
    )
    assert dns_server.queries.count((DOMAIN, "A")) == 1


def test_idna_name_is_looked_up_by_idna_2008(dns_server, edge):
    dns_server.set_a("ss.brand.test", "10.0.0.1")
    dns_server.set_a("xn--zca.brand.test", "127.0.0.1")
    result = run(checker(dns_server, edge.port), "ß.brand.test")
    assert result.reason == f"http://xn--zca.brand.test:{edge.port} reaches this edge"
    assert {name for name, _ in dns_server.queries} == {"xn--zca.brand.test"}


def test_from_settings_uses_port_resolvers_and_policy(records, edge, settings: Settings):
    configured = replace(
        settings,
        dns_nameservers=(records.nameserver,),
        dns_timeout=1.0,
        verify_port=edge.port,
        verify_allow_networks=(),
    )
    reach = ReachabilityChecker.from_settings(configured, TokenCodec([SECRET]))
    assert reach.url(DOMAIN) == f"http://{DOMAIN}:{edge.port}"
    assert run(reach).reason == f"refusing to connect to 127.0.0.1: {REFUSED}"
    loopback_ok = replace(configured, verify_allow_networks=("127.0.0.0/8",))
    assert run(ReachabilityChecker.from_settings(loopback_ok, TokenCodec([SECRET]))).ok is True


@pytest.mark.parametrize(
    ("value", "networks"),
    [
        ("", ("127.0.0.0/8", "::1/128")),
        ("none", ()),
        ("10.1.2.3/16, fd00::/8", ("10.1.0.0/16", "fd00::/8")),
    ],
)
def test_allowed_networks_from_the_environment(value, networks):
    env = {"EDGE_VERIFY_ALLOW_NETWORKS": value}
    assert Settings.from_env(env).verify_allow_networks == networks


def test_bad_allowed_network_is_a_config_error():
    with pytest.raises(ConfigError) as excinfo:
        Settings.from_env({"EDGE_VERIFY_ALLOW_NETWORKS": "10.0.0.0/8,intranet"})
    assert str(excinfo.value) == (
        "EDGE_VERIFY_ALLOW_NETWORKS must be CIDR networks or none, got '10.0.0.0/8,intranet'"
    )


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"verify_port": 0}, "EDGE_VERIFY_PORT must be a port number, got 0"),
        ({"verify_port": 70000}, "EDGE_VERIFY_PORT must be a port number, got 70000"),
        (
            {"verify_allow_networks": ("lan",)},
            "EDGE_VERIFY_ALLOW_NETWORKS: 'lan' does not appear to be an IPv4 or IPv6 network",
        ),
    ],
)
def test_bad_settings_are_config_errors_naming_the_variable(settings, changes, message):
    with pytest.raises(ConfigError) as excinfo:
        ReachabilityChecker.from_settings(replace(settings, **changes), TokenCodec([SECRET]))
    assert str(excinfo.value) == message
