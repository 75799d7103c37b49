"""Resolving the host of an outbound request: one host rule, the configured resolvers, once."""

from __future__ import annotations

import asyncio

import pytest

from admin.outbound.resolve import AddressResolver, DNSLookupError, canonical_host


def resolve(dns_server, host: str) -> tuple[str, ...]:
    resolver = AddressResolver((dns_server.nameserver,), 1.0)
    return asyncio.run(resolver.resolve(canonical_host(host)))


def test_internationalised_name_is_looked_up_by_idna_2008(dns_server):
    # IDNA 2003 (Python's "idna" codec) maps ß to ss; IDNA 2008, as httpx and browsers, keeps it.
    dns_server.set_a("ss.brand.test", "10.0.0.1")
    dns_server.set_a("xn--zca.brand.test", "127.0.0.1")
    assert resolve(dns_server, "ß.Brand.TEST.") == ("127.0.0.1",)
    assert dns_server.queries == [("xn--zca.brand.test", "A"), ("xn--zca.brand.test", "AAAA")]


@pytest.mark.parametrize(
    ("host", "address"),
    [
        ("127.1", "127.0.0.1"),
        ("0x7f.1", "127.0.0.1"),
        ("0177.0.0.1", "127.0.0.1"),
        ("2130706433", "127.0.0.1"),
        ("169.254.43518", "169.254.169.254"),
        ("::FFFF:0:A9FE:A9FE", "::ffff:0:a9fe:a9fe"),
    ],
)
def test_numeric_host_is_an_address_in_the_forms_url_parsers_accept(dns_server, host, address):
    assert canonical_host(host) == address
    assert resolve(dns_server, host) == (address,)
    assert dns_server.queries == []


@pytest.mark.parametrize("host", ["1.2.3.4.5", "example.0x", "256.1.1.1.1"])
def test_host_ending_in_a_number_that_is_no_address_is_invalid(host):
    with pytest.raises(DNSLookupError) as excinfo:
        canonical_host(host)
    assert (excinfo.value.reason, excinfo.value.temporary) == (
        f"not a valid host name: {host!r}",
        False,
    )


@pytest.mark.parametrize("host", ["localhost", "LocalHost.", "hooks.localhost"])
def test_localhost_is_loopback_without_asking_dns(dns_server, host):
    dns_server.set_a("localhost", "93.184.216.34")
    assert resolve(dns_server, host) == ("127.0.0.1", "::1")
    assert dns_server.queries == []


def test_every_resolution_asks_the_resolver_again(dns_server):
    # No cache: what a request connects to is what it resolved, whatever the TTL said.
    dns_server.set_a_sequence("rebind.test", ["93.184.216.34"], ["127.0.0.1"], ttl=0)
    resolver = AddressResolver((dns_server.nameserver,), 1.0)

    async def twice() -> list[tuple[str, ...]]:
        return [await resolver.resolve("rebind.test") for _ in range(2)]

    assert asyncio.run(twice()) == [("93.184.216.34",), ("127.0.0.1",)]


def test_a_and_aaaa_addresses_in_that_order(dns_server):
    dns_server.set_a("dual.test", "93.184.216.34")
    dns_server.set_aaaa("dual.test", "2606:4700::1111")
    assert resolve(dns_server, "dual.test") == ("93.184.216.34", "2606:4700::1111")


def test_unknown_name_is_no_such_name(dns_server):
    with pytest.raises(DNSLookupError) as excinfo:
        resolve(dns_server, "nowhere.test")
    assert (excinfo.value.reason, excinfo.value.temporary) == ("no such name: nowhere.test", False)
