"""HTTP-01 answers: from the database, on the domain being validated, on any worker."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace

from admin.ssl.challenges import ChallengeBoard
from tests.fixtures_https import add_domain
from tests.stores import store_at

TOKEN = "evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA"


def _publish(live, settings, domain: str, token: str = TOKEN, answer: str = "ka") -> None:
    """Publish a challenge for ``domain``, as another worker's or node's issuer would."""

    async def publish() -> None:
        async with store_at(settings) as store:  # as another worker's issuer would
            await ChallengeBoard(store).publish(domain, token, answer)

    live.call(publish)


def test_published_challenge_is_answered_on_its_domain(settings, live_server):
    _publish(live_server, settings, "track.brand.test", answer=f"{TOKEN}.thumb")
    with live_server.client("track.brand.test") as client:
        response = client.get(f"/.well-known/acme-challenge/{TOKEN}")
    assert response.status_code == 200
    assert response.text == f"{TOKEN}.thumb"
    assert response.headers["cache-control"] == "no-store"


def test_challenge_is_answered_before_this_nodes_domain_table_knows_the_domain(
    settings, make_server
):
    """Another node verified the domain and asked the CA to validate it; the validator may
    reach this node before its domain table reloads."""
    live = make_server(replace(settings, domain_poll_interval=3600))
    add_domain(settings, "new.brand.test", verified=True)
    assert live.app.runtime.domains.get("new.brand.test") is None
    _publish(live, settings, "new.brand.test", answer=f"{TOKEN}.thumb")
    with live.client("new.brand.test") as client:
        response = client.get(f"/.well-known/acme-challenge/{TOKEN}")
    assert (response.status_code, response.text) == (200, f"{TOKEN}.thumb")


def test_challenge_is_not_answered_on_another_domain(settings, live_server):
    _publish(live_server, settings, "track.brand.test")
    with live_server.client("other.brand.test") as client:
        assert client.get(f"/.well-known/acme-challenge/{TOKEN}").status_code == 404


def test_unknown_token_is_404(live_server):
    with live_server.client("track.brand.test") as client:
        assert client.get(f"/.well-known/acme-challenge/{TOKEN}").status_code == 404


def test_malformed_token_is_404(settings, live_server):
    _publish(live_server, settings, "track.brand.test", token="a.b")
    with live_server.client("track.brand.test") as client:
        assert client.get("/.well-known/acme-challenge/a.b").status_code == 404


def test_challenge_is_not_answered_on_the_admin_host(settings, live_server):
    _publish(live_server, settings, "admin.test")
    with live_server.client("admin.test") as client:
        assert client.get(f"/.well-known/acme-challenge/{TOKEN}").status_code == 404


def test_withdrawn_challenge_is_404(settings, live_server):
    _publish(live_server, settings, "track.brand.test")

    async def withdraw() -> None:
        async with store_at(settings) as store:
            await ChallengeBoard(store).withdraw(TOKEN)

    live_server.call(withdraw)
    with live_server.client("track.brand.test") as client:
        assert client.get(f"/.well-known/acme-challenge/{TOKEN}").status_code == 404


def test_challenge_is_answered_while_an_admin_transaction_holds_the_lock(settings, live_server):
    _publish(live_server, settings, "track.brand.test", answer="ka")
    store = live_server.app.admin_app.state.services.store
    entered, release = asyncio.Event(), asyncio.Event()

    async def admin_transaction() -> None:
        async with store.transaction():  # the write lock, for as long as it likes
            entered.set()
            await release.wait()

    async def begin() -> asyncio.Task:
        task = asyncio.create_task(admin_transaction())
        await entered.wait()
        return task

    async def end() -> None:
        release.set()
        await held

    held = live_server.call(begin)
    try:
        with live_server.client("track.brand.test") as client:
            started = time.monotonic()
            response = client.get(f"/.well-known/acme-challenge/{TOKEN}", timeout=5.0)
            elapsed = time.monotonic() - started
    finally:
        live_server.call(end)
    assert (response.status_code, response.text) == (200, "ka")
    assert elapsed < 2.0


def test_a_malformed_token_or_a_post_is_404_without_a_query(settings, live_server):
    _publish(live_server, settings, "track.brand.test")
    responder = live_server.app.well_known["acme-challenge"]
    queried: list[tuple[str, str]] = []
    real = responder.lookup

    async def spy(domain: str, token: str) -> str | None:
        queried.append((domain, token))
        return await real(domain, token)

    responder.lookup = spy
    with live_server.client("track.brand.test") as client:
        malformed = client.get(f"/.well-known/acme-challenge/{TOKEN}%2F..")
        posted = client.post(f"/.well-known/acme-challenge/{TOKEN}")
        known = client.get(f"/.well-known/acme-challenge/{TOKEN}")
    assert (malformed.status_code, posted.status_code, known.status_code) == (404, 404, 200)
    assert queried == [("track.brand.test", TOKEN)]


def test_the_default_domain_is_answered(settings, live_server):
    default = settings.default_domain
    _publish(live_server, settings, default, answer="for-the-default")
    with live_server.client(default) as client:
        response = client.get(f"/.well-known/acme-challenge/{TOKEN}")
    assert (response.status_code, response.text) == (200, "for-the-default")
