"""End to end: rewrite a newsletter, then click every link and load the pixels through a real
edge server (uvicorn on 127.0.0.1), and check where each lands and what is recorded."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from edge.model.events import HONEYPOT_LINK
from edge.rewrite.rewriter import Rewriter
from edge.serving.domains import TrackingHost
from edge.serving.tracking import PIXEL_GIF, ROBOTS_TXT
from edge.tokens.codec import TokenCodec
from edge.tokens.links import LinkBuilder
from tests.conftest import SECRET
from tests.stores import stored_events

NEWSLETTER = Path(__file__).parent / "golden" / "newsletter.html"
DEFAULT = TrackingHost("track.test", None, False, True)  # the settings fixture's default domain


def rewriter() -> Rewriter:
    return Rewriter(LinkBuilder(TokenCodec([SECRET])), DEFAULT, 1)


def recorded(live) -> list[tuple]:
    live.drain()
    return [
        (e.type, e.account_id, e.domain, e.message, e.link, e.url)
        for e in stored_events(live.app.runtime.settings)
    ]


def path_and_host(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.path, parts.hostname or ""


def test_every_wrapped_link_lands_on_exactly_the_decoded_url(live_server) -> None:
    result = rewriter().rewrite(NEWSLETTER.read_text(encoding="utf-8"), message="nl-1")
    wrapped = [link for link in result.links if link.wrapped]
    assert len(wrapped) == 11
    for link in wrapped:
        path, host = path_and_host(link.tracking_url)
        with live_server.client(host) as client:
            response = client.get(path)
        assert response.status_code == 302, link
        assert response.headers["location"] == link.url
    assert recorded(live_server) == [
        ("click", 1, "track.test", "nl-1", link.name, link.url) for link in wrapped
    ]


def test_entities_are_decoded_before_signing_so_the_click_lands_where_the_browser_would(
    live_server,
) -> None:
    html = '<a href="https://shop.example/?a=1&amp;b=2&#38;c=3&copy=4">x</a>'
    (link,) = rewriter().rewrite(html, track_opens=False).links
    path, host = path_and_host(link.tracking_url)
    with live_server.client(host) as client:
        location = client.get(path).headers["location"]
    assert location == "https://shop.example/?a=1&b=2&c=3&copy=4"


def test_pixels_load_and_record_both_open_kinds(live_server) -> None:
    result = rewriter().rewrite(
        NEWSLETTER.read_text(encoding="utf-8"), message="nl-2", initial_open=True,
        track_clicks=False,
    )  # fmt: skip
    assert [i.kind for i in result.insertions] == ["initial_open", "open"]
    for insertion in result.insertions:
        src = insertion.markup.split('src="')[1].split('"')[0]
        path, host = path_and_host(src)
        with live_server.client(host) as client:
            response = client.get(path)
        assert (response.status_code, response.content) == (200, PIXEL_GIF)
    assert recorded(live_server) == [
        ("initial_open", 1, "track.test", "nl-2", None, None),
        ("open", 1, "track.test", "nl-2", None, None),
    ]


def test_a_scanner_following_the_honeypot_lands_on_the_edges_robots_txt(live_server) -> None:
    result = rewriter().rewrite("<body><p>hi</p></body>", message="nl-3", honeypot=True)
    honeypot = next(i for i in result.insertions if i.kind == "honeypot")
    path, host = path_and_host(honeypot.markup.split('href="')[1].split('"')[0])
    with live_server.client(host) as client:
        redirect = client.get(path)
        assert redirect.headers["location"] == "http://track.test/robots.txt"
        landed = client.get(urlsplit(redirect.headers["location"]).path)
    assert (landed.status_code, landed.content) == (200, ROBOTS_TXT)
    assert recorded(live_server) == [
        ("click", 1, "track.test", "nl-3", HONEYPOT_LINK, "http://track.test/robots.txt")
    ]
