from __future__ import annotations

from edge.clientaddr import ClientResolver


def scope(peer: str, *headers: tuple[bytes, bytes]) -> dict:
    return {"client": (peer, 50000), "headers": list(headers)}


def test_forwarded_for_is_ignored_without_trusted_proxies():
    resolver = ClientResolver()
    assert resolver.resolve(scope("10.0.0.5", (b"x-forwarded-for", b"203.0.113.9"))) == (
        "10.0.0.5",
        None,
        False,
    )


def test_forwarded_for_is_ignored_from_an_untrusted_peer():
    resolver = ClientResolver(["10.0.0.0/8"])
    got = resolver.resolve(scope("198.51.100.3", (b"x-forwarded-for", b"203.0.113.9")))
    assert got[0] == "198.51.100.3"


def test_forwarded_for_from_a_trusted_proxy_gives_the_client():
    resolver = ClientResolver(["10.0.0.0/8"])
    got = resolver.resolve(scope("10.0.0.5", (b"x-forwarded-for", b"203.0.113.9")))
    assert got[0] == "203.0.113.9"


def test_rightmost_untrusted_entry_wins_over_spoofed_ones():
    resolver = ClientResolver(["10.0.0.0/8"])
    header = b"1.1.1.1, 203.0.113.9, 10.0.0.7"
    got = resolver.resolve(scope("10.0.0.5", (b"x-forwarded-for", header)))
    assert got[0] == "203.0.113.9"


def test_repeated_forwarded_for_headers_are_one_list():
    resolver = ClientResolver(["10.0.0.0/8"])
    got = resolver.resolve(
        scope(
            "10.0.0.5",
            (b"x-forwarded-for", b"203.0.113.9"),
            (b"x-forwarded-for", b"10.0.0.6"),
        )
    )
    assert got[0] == "203.0.113.9"


def test_ports_and_brackets_are_stripped():
    resolver = ClientResolver(["10.0.0.0/8"])
    got = resolver.resolve(scope("10.0.0.5", (b"x-forwarded-for", b"[2001:db8::1]:443")))
    assert got[0] == "2001:db8::1"


def test_garbled_entry_keeps_the_proxy_address():
    resolver = ClientResolver(["10.0.0.0/8"])
    got = resolver.resolve(scope("10.0.0.5", (b"x-forwarded-for", b"unknown")))
    assert got[0] == "10.0.0.5"


def test_user_agent_and_prefetch_hint_are_read():
    resolver = ClientResolver()
    got = resolver.resolve(
        scope("203.0.113.9", (b"user-agent", b"Mozilla/5.0 X"), (b"sec-purpose", b"prefetch"))
    )
    assert got == ("203.0.113.9", "Mozilla/5.0 X", True)


def test_safari_preview_header_is_a_prefetch():
    resolver = ClientResolver()
    assert resolver.resolve(scope("203.0.113.9", (b"x-purpose", b"preview")))[2] is True
