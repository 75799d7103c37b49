"""CNAME verification over the wire, against the loopback DNS server of ``fixtures_dns``."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace

import dns.rcode
import pytest

from admin.domains.dns import CnameCheck, CnameVerifier, parse_nameserver
from edge.config import ConfigError, Settings
from tests.conftest import free_port

TARGET = "edge.test"


def check(dns_server, domain: str, *, target: str = TARGET, timeout: float = 2.0) -> CnameCheck:
    verifier = CnameVerifier(target, [dns_server.nameserver], timeout=timeout)
    return asyncio.run(verifier.check(domain))


def test_cname_to_the_target_is_valid(dns_server):
    dns_server.set_cname("track.brand.test", TARGET)
    assert check(dns_server, "track.brand.test") == CnameCheck(
        True, "CNAME points to edge.test", ("track.brand.test", "edge.test")
    )


def test_target_compared_without_case_or_trailing_dot(dns_server):
    dns_server.set_cname("Track.Brand.Test", "EDGE.test.")
    assert check(dns_server, "TRACK.brand.test.", target="Edge.Test.") == CnameCheck(
        True, "CNAME points to edge.test", ("track.brand.test", "edge.test")
    )


def account_check(dns_server, domain: str, target: str) -> CnameCheck:
    """A check for an account's own target under ``edge.test`` (the domain service's)."""
    verifier = CnameVerifier(TARGET, [dns_server.nameserver], timeout=2.0)
    return asyncio.run(verifier.check(domain, target))


def test_cname_to_the_accounts_own_target_is_valid_through_the_operators_wildcard(dns_server):
    dns_server.set_a(TARGET, "127.0.0.1")
    dns_server.set_cname(f"*.{TARGET}", TARGET)
    dns_server.set_cname("track.brand.test", "aaaa.edge.test")
    assert account_check(dns_server, "track.brand.test", "AAAA.edge.test.") == CnameCheck(
        True, "CNAME points to aaaa.edge.test", ("track.brand.test", "aaaa.edge.test")
    )


@pytest.mark.parametrize("pointed", ["bbbb.edge.test", "edge.test"])
def test_a_chain_into_the_edges_own_names_stops_at_the_first_of_them(dns_server, pointed):
    """Another account's target, or the shared one, is named as found; the operator's records
    behind it (the wildcard's CNAME) are not followed: they prove nothing about the account."""
    dns_server.set_a(TARGET, "127.0.0.1")
    dns_server.set_cname(f"*.{TARGET}", TARGET)
    dns_server.set_cname("track.brand.test", pointed)
    assert account_check(dns_server, "track.brand.test", "aaaa.edge.test") == CnameCheck(
        False,
        f"CNAME points to {pointed} instead of aaaa.edge.test",
        ("track.brand.test", pointed),
    )


def test_cname_to_another_name_is_invalid(dns_server):
    dns_server.set_cname("track.brand.test", "other.example")
    dns_server.set_a("other.example", "192.0.2.7")
    assert check(dns_server, "track.brand.test") == CnameCheck(
        False,
        "CNAME points to other.example instead of edge.test",
        ("track.brand.test", "other.example"),
    )


def test_missing_name_is_no_such_name(dns_server):
    assert check(dns_server, "track.brand.test") == CnameCheck(
        False, "no such name: track.brand.test", ("track.brand.test",)
    )


def test_name_without_cname_says_what_it_has(dns_server):
    dns_server.set_a("track.brand.test", "192.0.2.1", "192.0.2.2")
    assert check(dns_server, "track.brand.test") == CnameCheck(
        False,
        "no CNAME record for track.brand.test; it has an A record: 192.0.2.1, 192.0.2.2",
        ("track.brand.test",),
    )


def test_name_with_only_aaaa_says_so(dns_server):
    dns_server.set_aaaa("track.brand.test", "2001:db8::1")
    assert check(dns_server, "track.brand.test").reason == (
        "no CNAME record for track.brand.test; it has an AAAA record: 2001:db8::1"
    )


def test_no_cname_stands_when_the_address_lookup_then_fails(dns_server):
    dns_server.set_a("track.brand.test", "192.0.2.1")
    verifier = CnameVerifier(TARGET, [dns_server.nameserver], timeout=1.0)
    original = verifier.resolver.resolve

    async def resolve(*args, **kwargs):
        answer = await original(*args, **kwargs)
        dns_server.stop_answering()  # answers the CNAME query, then goes silent
        return answer

    verifier.resolver.resolve = resolve
    assert asyncio.run(verifier.check("track.brand.test")) == CnameCheck(
        False, "no CNAME record for track.brand.test", ("track.brand.test",)
    )


def test_name_with_no_records_is_no_cname(dns_server):
    dns_server.set_empty("track.brand.test")
    assert check(dns_server, "track.brand.test") == CnameCheck(
        False, "no CNAME record for track.brand.test", ("track.brand.test",)
    )


def test_chain_reaching_the_target_is_valid(dns_server):
    dns_server.set_cname("track.brand.test", "hop1.cdn.test")
    dns_server.set_cname("hop1.cdn.test", "hop2.cdn.test")
    dns_server.set_cname("hop2.cdn.test", TARGET)
    assert check(dns_server, "track.brand.test") == CnameCheck(
        True,
        "CNAME points to edge.test",
        ("track.brand.test", "hop1.cdn.test", "hop2.cdn.test", "edge.test"),
    )


def test_chain_ending_elsewhere_names_the_end_and_the_hops(dns_server):
    dns_server.set_cname("track.brand.test", "hop1.cdn.test")
    dns_server.set_cname("hop1.cdn.test", "wrong.cdn.test")
    dns_server.set_a("wrong.cdn.test", "192.0.2.9")
    assert check(dns_server, "track.brand.test") == CnameCheck(
        False,
        "CNAME points to wrong.cdn.test instead of edge.test (via hop1.cdn.test)",
        ("track.brand.test", "hop1.cdn.test", "wrong.cdn.test"),
    )


def test_dangling_cname_says_its_end_does_not_exist(dns_server):
    dns_server.set_cname("track.brand.test", "gone.cdn.test")
    assert check(dns_server, "track.brand.test") == CnameCheck(
        False,
        "CNAME points to gone.cdn.test instead of edge.test; gone.cdn.test does not exist",
        ("track.brand.test", "gone.cdn.test"),
    )


def test_cname_loop_terminates(dns_server):
    dns_server.set_cname("a.loop.test", "b.loop.test")
    dns_server.set_cname("b.loop.test", "a.loop.test")
    assert check(dns_server, "a.loop.test") == CnameCheck(
        False,
        "CNAME chain loops: a.loop.test → b.loop.test → a.loop.test",
        ("a.loop.test", "b.loop.test", "a.loop.test"),
    )


def test_overlong_chain_stops_at_the_limit(dns_server):
    for i in range(30):
        dns_server.set_cname(f"h{i}.chain.test", f"h{i + 1}.chain.test")
    result = check(dns_server, "h0.chain.test")
    assert result.valid is False
    assert result.reason == "CNAME chain of h0.chain.test is longer than 16 names"
    assert len(result.chain) == 17
    assert len(dns_server.queries) == 16


def test_large_answer_is_fetched_over_tcp_after_truncation(dns_server):
    addresses = [f"192.0.2.{i}" for i in range(1, 61)]  # 60 A records: over 512 bytes
    dns_server.set_a("track.brand.test", *addresses)
    result = check(dns_server, "track.brand.test")
    assert result.reason == (
        "no CNAME record for track.brand.test; it has an A record: " + ", ".join(sorted(addresses))
    )
    assert dns_server.queries[-2:] == [("track.brand.test", "A"), ("track.brand.test", "A")]
    assert dns_server.protocols[-2:] == ["udp", "tcp"]


def test_nameserver_with_nothing_listening_times_out():
    # asyncio's UDP endpoint does not surface ICMP port-unreachable: it is a silent server.
    closed = CnameVerifier(TARGET, [f"127.0.0.1:{free_port()}"], timeout=1.0)
    started = time.monotonic()
    result = asyncio.run(closed.check("track.brand.test"))
    assert time.monotonic() - started < 1.5
    assert result == CnameCheck(
        False, "DNS resolver timed out after 1.0 s", ("track.brand.test",), temporary=True
    )


def test_silent_resolver_times_out_within_the_bound(dns_server):
    dns_server.set_cname("track.brand.test", TARGET)
    dns_server.stop_answering()
    started = time.monotonic()
    result = check(dns_server, "track.brand.test", timeout=1.0)
    elapsed = time.monotonic() - started
    assert result == CnameCheck(
        False, "DNS resolver timed out after 1.0 s", ("track.brand.test",), temporary=True
    )
    assert 0.9 <= elapsed < 1.5


def test_timeout_bounds_the_whole_chain_not_each_hop(dns_server):
    dns_server.set_cname("track.brand.test", "hop1.cdn.test")
    dns_server.set_cname("hop1.cdn.test", TARGET)
    verifier = CnameVerifier(TARGET, [dns_server.nameserver], timeout=1.0)

    async def run() -> CnameCheck:
        # The first hop answers after 0.6 s; the server goes silent before the second, which
        # must get the 0.4 s left, not a fresh second.
        original = verifier.resolver.resolve

        async def resolve(*args, **kwargs):
            if not dns_server.queries:
                await asyncio.sleep(0.6)
            answer = await original(*args, **kwargs)
            dns_server.stop_answering()
            return answer

        verifier.resolver.resolve = resolve
        return await verifier.check("track.brand.test")

    started = time.monotonic()
    result = asyncio.run(run())
    assert 0.9 <= time.monotonic() - started < 1.45
    assert result == CnameCheck(
        False,
        "DNS resolver timed out after 1.0 s",
        ("track.brand.test", "hop1.cdn.test"),
        temporary=True,
    )


def test_servfail_is_reported_as_a_resolver_failure(dns_server):
    dns_server.answer_rcode(dns.rcode.SERVFAIL)
    assert check(dns_server, "track.brand.test") == CnameCheck(
        False,
        "DNS resolver answered SERVFAIL for track.brand.test",
        ("track.brand.test",),
        temporary=True,
    )


def test_refused_is_reported_as_a_resolver_failure(dns_server):
    dns_server.answer_rcode(dns.rcode.REFUSED)
    assert check(dns_server, "track.brand.test").reason == (
        "DNS resolver answered REFUSED for track.brand.test"
    )


def test_queries_go_to_the_configured_server_only(dns_server):
    dns_server.set_cname("track.brand.test", TARGET)
    check(dns_server, "track.brand.test")
    assert dns_server.queries == [("track.brand.test", "CNAME")]


def test_domain_that_is_the_target_itself_is_invalid(dns_server):
    assert check(dns_server, "edge.test") == CnameCheck(
        False, "edge.test is the CNAME target itself", ("edge.test",)
    )
    assert dns_server.queries == []


def test_from_settings_uses_target_nameservers_and_timeout(dns_server, settings: Settings):
    configured = replace(
        settings,
        cname_target="Edge.Test.",
        dns_nameservers=(dns_server.nameserver,),
        dns_timeout=1.5,
    )
    verifier = CnameVerifier.from_settings(configured)
    assert (verifier.target, verifier.nameservers, verifier.timeout) == (
        "edge.test",
        (dns_server.nameserver,),
        1.5,
    )
    dns_server.set_cname("track.brand.test", TARGET)
    assert asyncio.run(verifier.check("track.brand.test")).valid is True


@pytest.mark.parametrize(
    ("spec", "parsed"),
    [
        ("127.0.0.1:5353", ("127.0.0.1", 5353)),
        ("127.0.0.1", ("127.0.0.1", 53)),
        ("[::1]:5353", ("::1", 5353)),
        ("::1", ("::1", 53)),
        (" 10.0.0.2 ", ("10.0.0.2", 53)),
    ],
)
def test_nameserver_specs_parse(spec, parsed):
    assert parse_nameserver(spec) == parsed


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("dns.example:53", "bad DNS nameserver 'dns.example:53': not an IP address"),
        ("127.0.0.1:dns", "bad DNS nameserver '127.0.0.1:dns': bad port 'dns'"),
        ("127.0.0.1:70000", "bad DNS nameserver '127.0.0.1:70000': bad port '70000'"),
        ("[::1]5353", "bad DNS nameserver '[::1]5353': expected [address]:port"),
    ],
)
def test_bad_nameserver_is_refused_when_the_verifier_is_built(spec, message):
    with pytest.raises(ValueError) as excinfo:
        CnameVerifier(TARGET, [spec])
    assert str(excinfo.value) == message


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"dns_nameservers": ("127.0.0.1", "resolver.lan")},
            "EDGE_DNS_NAMESERVERS: bad DNS nameserver 'resolver.lan': not an IP address",
        ),
        ({"dns_timeout": 0.0}, "EDGE_DNS_TIMEOUT must be positive, got 0.0"),
        ({"cname_target": "bad target!"}, "EDGE_CNAME_TARGET: bad CNAME target 'bad target!'"),
    ],
)
def test_bad_settings_are_config_errors_naming_the_variable(settings, changes, message):
    with pytest.raises(ConfigError) as excinfo:
        CnameVerifier.from_settings(replace(settings, **changes))
    assert str(excinfo.value) == message
