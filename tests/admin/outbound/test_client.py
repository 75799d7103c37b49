"""Outbound HTTP: the request goes to the address that was checked, naming the host."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from admin.outbound.client import AddressRefused, Outbound
from admin.outbound.policy import AddressPolicy
from admin.outbound.resolve import AddressResolver, DNSLookupError

REFUSED = "not a public address (EDGE_WEBHOOK_ALLOW_NETWORKS can allow its network)"


class Recorder(httpx.AsyncBaseTransport):
    """Answers 204 to everything, recording each request: nothing goes on the network."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return httpx.Response(204)


def outbound(dns_server, allowed=("127.0.0.2/32",), transport=None) -> Outbound:
    return Outbound(
        AddressResolver((dns_server.nameserver,), 1.0),
        AddressPolicy(allowed, setting="EDGE_WEBHOOK_ALLOW_NETWORKS"),
        transport=transport,
    )


def test_request_goes_to_the_checked_address_with_the_name_in_host_and_sni(dns_server):
    dns_server.set_a("xn--zca.hooks.test", "127.0.0.2")
    recorder = Recorder()
    out = outbound(dns_server, transport=recorder)

    async def post() -> int:
        destination = await out.destination("https://ß.hooks.test:8443/in?x=1")
        async with out.client() as client:
            request = destination.request(client, "POST", "127.0.0.2", content=b"{}")
            return (await client.send(request)).status_code

    assert asyncio.run(post()) == 204
    (sent,) = recorder.requests
    assert str(sent.url) == "https://127.0.0.2:8443/in?x=1"
    assert sent.headers["host"] == "xn--zca.hooks.test:8443"
    assert sent.extensions["sni_hostname"] == "xn--zca.hooks.test"


def test_no_sni_for_an_address_and_no_port_for_the_default_one(dns_server):
    out = outbound(dns_server, allowed=("::1/128",), transport=Recorder())

    async def build() -> httpx.Request:
        destination = await out.destination("https://[::1]:443/in")
        async with out.client() as client:
            return destination.request(client, "GET", destination.addresses[0])

    request = asyncio.run(build())
    assert str(request.url) == "https://[::1]/in"
    assert request.headers["host"] == "[::1]"
    assert "sni_hostname" not in request.extensions


def test_only_allowed_addresses_of_a_mixed_answer_are_offered(dns_server):
    dns_server.set_a("mixed.hooks.test", "127.0.0.1", "127.0.0.2", "169.254.169.254")
    destination = asyncio.run(outbound(dns_server).destination("http://mixed.hooks.test/"))
    assert destination.addresses == ("127.0.0.2",)
    assert destination.refusal is None
    assert sorted(destination.refusals) == [  # an RRset's order is the server's to choose
        f"refusing to connect to 127.0.0.1: {REFUSED}",
        f"refusing to connect to 169.254.169.254: {REFUSED}",
    ]


def test_a_name_without_an_allowed_address_is_refused(dns_server):
    dns_server.set_aaaa("meta.hooks.test", "::ffff:0:a9fe:a9fe")
    destination = asyncio.run(outbound(dns_server).destination("http://meta.hooks.test/"))
    assert destination.addresses == ()
    assert destination.refusal == f"refusing to connect to ::ffff:0:a9fe:a9fe: {REFUSED}"


def test_resolver_failure_is_a_lookup_error(dns_server):
    with pytest.raises(DNSLookupError) as excinfo:
        asyncio.run(outbound(dns_server).destination("http://nowhere.hooks.test/"))
    assert excinfo.value.reason == "no such name: nowhere.hooks.test"


@pytest.mark.parametrize(
    "url",
    [
        "http://localhost:8080/",  # a name: the transport never resolves one
        "http://127.0.0.1:8080/",  # an address the policy refuses
        "http://[fec0::1]/",
    ],
)
def test_transport_refuses_a_request_that_skipped_the_check(dns_server, url):
    recorder = Recorder()
    out = outbound(dns_server, transport=recorder)

    async def get() -> None:
        async with out.client() as client:
            await client.get(url)

    with pytest.raises(AddressRefused):
        asyncio.run(get())
    assert recorder.requests == []


@pytest.mark.parametrize(
    ("url", "refusal"),
    [
        ("http://127.1:8080/x", f"refusing to connect to 127.0.0.1: {REFUSED}"),
        ("http://localhost/x", f"refusing to connect to 127.0.0.1: {REFUSED}"),
        ("https://[fec0::1]/x", f"refusing to connect to fec0::1: {REFUSED}"),
        ("https://127.0.0.2/x", None),
        ("https://hooks.example/x", None),  # a name: judged when it is resolved
        ("http://1.2.3.4.5/x", "not a valid host name: '1.2.3.4.5'"),
    ],
)
def test_known_refusal_without_dns(dns_server, url, refusal):
    assert outbound(dns_server).known_refusal(url) == refusal
    assert dns_server.queries == []
