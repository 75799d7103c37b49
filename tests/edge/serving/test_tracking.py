"""The tracking app over the wire: a real uvicorn server on 127.0.0.1, driven with httpx."""

from __future__ import annotations

import time
from dataclasses import replace

import pytest

from edge.db.repositories import Repositories
from edge.serving.tracking import NOT_FOUND_PAGE, PIXEL_GIF, ROBOTS_TXT
from edge.tokens.codec import TokenCodec
from tests.conftest import SECRET
from tests.stores import in_store, put_domain, stored_events

CODEC = TokenCodec([SECRET])
TARGET = "https://example.com/reset?user=7&token=a%20b"


def events(live) -> list[tuple]:
    live.drain()
    return [
        (e.type, e.account_id, e.domain, e.message, e.recipient, e.link, e.url, e.method,
         e.prefetch)
        for e in stored_events(live.app.runtime.settings)
    ]  # fmt: skip


def add_domain(live, domain: str, account: str, **states: str) -> int:
    """Add a tracking domain of a new account as the admin API would (verified and not
    blocked unless ``states`` say otherwise), and wait until it is in the table; returns
    the account's id."""

    async def add(tx: Repositories) -> int:
        account_id = (await tx.accounts.ensure(account, now=int(time.time()))).id
        await put_domain(tx, account_id, domain, **states)
        return account_id

    account_id = in_store(live.app.runtime.settings, add)
    live.call(live.app.runtime.domains.refresh)
    return account_id


def test_click_redirects_with_302_to_exactly_the_signed_url(live_server):
    token = CODEC.sign_click(1, TARGET, message="m-1", link="reset")
    with live_server.client("track.test") as client:
        response = client.get(f"/e/{token}")
    assert response.status_code == 302
    assert response.headers["location"] == TARGET
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert response.text == (
        '<!doctype html><a href="https://example.com/reset?user=7&amp;token=a%20b">Continue</a>\n'
    )
    assert events(live_server) == [
        ("click", 1, "track.test", "m-1", None, "reset", TARGET, "GET", 0)
    ]


def test_click_is_served_whatever_the_host_header_spelling(live_server):
    token = CODEC.sign_click(1, TARGET)
    for host in ("TRACK.test", "track.test.", f"track.test:{live_server.port}"):
        with live_server.client(host) as client:
            assert client.get(f"/e/{token}").headers["location"] == TARGET
    assert len(events(live_server)) == 3


def test_head_click_is_answered_the_same_and_flagged_as_prefetch(live_server):
    token = CODEC.sign_click(1, TARGET, message="m-1")
    with live_server.client("track.test") as client:
        response = client.head(f"/e/{token}")
    assert response.status_code == 302
    assert response.headers["location"] == TARGET
    assert response.headers["cache-control"] == "no-store"
    assert response.content == b""
    assert events(live_server) == [("click", 1, "track.test", "m-1", None, None, TARGET, "HEAD", 1)]


def test_open_pixel_is_a_transparent_gif_that_is_never_cached(live_server):
    token = CODEC.sign_open(1, message="m-1", recipient="r-9")
    with live_server.client("track.test") as client:
        response = client.get(f"/o/{token}")
    assert response.status_code == 200
    assert response.content == PIXEL_GIF
    assert response.headers["content-type"] == "image/gif"
    assert response.headers["cache-control"] == "no-store, no-cache, must-revalidate, max-age=0"
    assert response.headers["pragma"] == "no-cache"
    assert response.headers["expires"] == "0"
    assert events(live_server) == [("open", 1, "track.test", "m-1", "r-9", None, None, "GET", 0)]


def test_initial_open_pixel_records_its_own_event_type(live_server):
    token = CODEC.sign_open(1, message="m-1", kind="initial_open")
    with live_server.client("track.test") as client:
        assert client.get(f"/o/{token}").status_code == 200
    assert [row[0] for row in events(live_server)] == ["initial_open"]


def test_bad_open_token_still_gets_the_gif_but_records_nothing(live_server):
    token = CODEC.sign_open(1, message="m-1")
    with live_server.client("track.test") as client:
        for bad in (token[:-3] + "AAA", "garbage", CODEC.sign_click(1, TARGET)):
            response = client.get(f"/o/{bad}")
            assert response.status_code == 200
            assert response.content == PIXEL_GIF
    assert events(live_server) == []


@pytest.mark.parametrize(
    "make_token",
    [
        pytest.param(lambda t: t[:-1] + ("A" if t[-1] != "A" else "B"), id="tampered-signature"),
        pytest.param(
            lambda t: t.replace(t.split(".")[0], t.split(".")[0][:-2] + "xx"), id="tampered-payload"
        ),
        pytest.param(lambda t: t[: len(t) // 2], id="truncated"),
        pytest.param(lambda t: "", id="empty"),
        pytest.param(
            lambda t: TokenCodec(["someone-else"]).sign_click(1, "https://evil.example/"),
            id="foreign-key",
        ),
        pytest.param(lambda t: CODEC.sign_open(1), id="open-token-as-click"),
    ],
)
def test_click_token_that_does_not_verify_gets_404_and_no_location(live_server, make_token):
    bad = make_token(CODEC.sign_click(1, TARGET))
    with live_server.client("track.test") as client:
        response = client.get(f"/e/{bad}")
    assert response.status_code == 404
    assert "location" not in response.headers
    assert response.content == NOT_FOUND_PAGE
    assert events(live_server) == []


def test_token_of_another_account_on_a_customer_domain_is_404(live_server):
    account = add_domain(live_server, "go.brand-a.com", "brand-a")
    foreign = CODEC.sign_click(account + 1, TARGET)
    own = CODEC.sign_click(account, TARGET)
    with live_server.client("go.brand-a.com") as client:
        refused = client.get(f"/e/{foreign}")
        served = client.get(f"/e/{own}")
    assert refused.status_code == 404
    assert "location" not in refused.headers
    assert served.status_code == 302
    assert events(live_server) == [
        ("click", account, "go.brand-a.com", None, None, None, TARGET, "GET", 0)
    ]


def test_default_domain_serves_tokens_of_every_account(live_server):
    with live_server.client("track.test") as client:
        assert client.get(f"/e/{CODEC.sign_click(42, TARGET)}").status_code == 302


@pytest.mark.parametrize("host", ["unknown.example", "admin.test", "127.0.0.1"])
def test_tracking_paths_on_a_host_that_is_not_a_tracking_domain_are_404(live_server, host):
    token = CODEC.sign_click(1, TARGET)
    with live_server.client(host) as client:
        response = client.get(f"/e/{token}")
        pixel = client.get(f"/o/{CODEC.sign_open(1)}")
    assert response.status_code == 404
    assert "location" not in response.headers
    assert pixel.status_code == 404
    assert events(live_server) == []


@pytest.mark.parametrize(
    ("cname_status", "compliance_status"),
    [("unverified", "pending"), ("pending", "pending"), ("invalid", "valid"), ("valid", "blocked")],
)
def test_unverified_or_blocked_domain_is_not_served(live_server, cname_status, compliance_status):
    account = add_domain(
        live_server, "go.brand-a.com", "brand-a",
        cname_status=cname_status, compliance_status=compliance_status,
    )  # fmt: skip
    with live_server.client("go.brand-a.com") as client:
        assert client.get(f"/e/{CODEC.sign_click(account, TARGET)}").status_code == 404
    assert events(live_server) == []


def test_robots_txt_disallows_all_crawling_on_a_tracking_host(live_server):
    with live_server.client("track.test") as client:
        response = client.get("/robots.txt")
    assert response.status_code == 200
    assert response.content == ROBOTS_TXT == b"User-agent: *\nDisallow: /\n"
    assert response.headers["content-type"] == "text/plain; charset=utf-8"


def test_unknown_path_on_a_tracking_host_is_404(live_server):
    with live_server.client("track.test") as client:
        assert client.get("/").status_code == 404
        assert client.get("/api/v1/tracking-domains").status_code == 404


def test_methods_other_than_get_and_head_are_refused_without_recording(live_server):
    token = CODEC.sign_click(1, TARGET)
    with live_server.client("track.test") as client:
        response = client.post(f"/e/{token}")
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, HEAD"
    assert events(live_server) == []


def test_token_signed_with_an_old_key_redirects_after_rotation(settings, make_server):
    old = TokenCodec(["old-key"]).sign_click(1, TARGET)
    live = make_server(replace(settings, secret_keys=("new-key", "old-key")))
    new = TokenCodec(["new-key"]).sign_click(1, TARGET)
    with live.client("track.test") as client:
        assert client.get(f"/e/{old}").headers["location"] == TARGET
        assert client.get(f"/e/{new}").headers["location"] == TARGET
    # ...and new links are signed with the first key only.
    assert live.app.runtime.codec.sign_click(1, TARGET) == new
