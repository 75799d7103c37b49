from __future__ import annotations

from edge.serving.clientaddr import ClientResolver
from edge.tokens.codec import TokenCodec
from tests.conftest import SECRET
from tests.stores import stored_events


def scope(peer: str, *headers: tuple[bytes, bytes]) -> tuple[list, tuple[str, int]]:
    """The request's headers and peer, as ``ClientResolver.resolve`` takes them."""
    return list(headers), (peer, 50000)


def test_forwarded_for_is_ignored_without_trusted_proxies():
    resolver = ClientResolver()
    assert resolver.resolve(*scope("10.0.0.5", (b"x-forwarded-for", b"203.0.113.9"))) == (
        "10.0.0.5",
        None,
        False,
    )


def test_forwarded_for_is_ignored_from_an_untrusted_peer():
    resolver = ClientResolver(["10.0.0.0/8"])
    got = resolver.resolve(*scope("198.51.100.3", (b"x-forwarded-for", b"203.0.113.9")))
    assert got[0] == "198.51.100.3"


def test_forwarded_for_from_a_trusted_proxy_gives_the_client():
    resolver = ClientResolver(["10.0.0.0/8"])
    got = resolver.resolve(*scope("10.0.0.5", (b"x-forwarded-for", b"203.0.113.9")))
    assert got[0] == "203.0.113.9"


def test_rightmost_untrusted_entry_wins_over_spoofed_ones():
    resolver = ClientResolver(["10.0.0.0/8"])
    header = b"1.1.1.1, 203.0.113.9, 10.0.0.7"
    got = resolver.resolve(*scope("10.0.0.5", (b"x-forwarded-for", header)))
    assert got[0] == "203.0.113.9"


def test_repeated_forwarded_for_headers_are_one_list():
    resolver = ClientResolver(["10.0.0.0/8"])
    got = resolver.resolve(
        *scope(
            "10.0.0.5",
            (b"x-forwarded-for", b"203.0.113.9"),
            (b"x-forwarded-for", b"10.0.0.6"),
        )
    )
    assert got[0] == "203.0.113.9"


def test_ports_and_brackets_are_stripped():
    resolver = ClientResolver(["10.0.0.0/8"])
    got = resolver.resolve(*scope("10.0.0.5", (b"x-forwarded-for", b"[2001:db8::1]:443")))
    assert got[0] == "2001:db8::1"


def test_garbled_entry_keeps_the_proxy_address():
    resolver = ClientResolver(["10.0.0.0/8"])
    got = resolver.resolve(*scope("10.0.0.5", (b"x-forwarded-for", b"unknown")))
    assert got[0] == "10.0.0.5"


def test_user_agent_and_prefetch_hint_are_read():
    resolver = ClientResolver()
    got = resolver.resolve(
        *scope("203.0.113.9", (b"user-agent", b"Mozilla/5.0 X"), (b"sec-purpose", b"prefetch"))
    )
    assert got == ("203.0.113.9", "Mozilla/5.0 X", True)


def test_safari_preview_header_is_a_prefetch():
    resolver = ClientResolver()
    assert resolver.resolve(*scope("203.0.113.9", (b"x-purpose", b"preview")))[2] is True


# Through the edge: what the recorded event holds.

CODEC = TokenCodec([SECRET])


def click_through(live, headers: dict) -> tuple:
    token = CODEC.sign_click(1, "https://example.com/", message="m", link="a")
    with live.client("track.test") as client:
        browser = {"user-agent": "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Firefox/125.0"}
        assert client.get(f"/e/{token}", headers={**browser, **headers}).status_code == 302
    live.drain()
    (event,) = stored_events(live.app.runtime.settings)
    return event.client_ip, event.prefetch, event.verdict, event.rule


def test_edge_ignores_forwarded_for_from_an_untrusted_peer(live_server):
    got = click_through(live_server, {"x-forwarded-for": "203.0.113.9"})
    assert got == ("127.0.0.1", 0, "human", "default")


def test_edge_records_the_forwarded_client_behind_a_trusted_proxy(other_settings, make_server):
    live = make_server(other_settings(trusted_proxies=("127.0.0.0/8",)))
    got = click_through(live, {"x-forwarded-for": "40.107.22.51"})
    assert got == ("40.107.22.51", 0, "scanner", "microsoft_eop_ip")


def test_edge_flags_a_prefetch_request(live_server):
    got = click_through(live_server, {"sec-purpose": "prefetch;prerender"})
    assert got == ("127.0.0.1", 1, "scanner", "prefetch")
