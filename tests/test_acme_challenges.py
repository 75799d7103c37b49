"""HTTP-01 answers: from the database, on the domain being validated, on any worker."""

from __future__ import annotations

from admin.acme_challenges import ChallengeBoard
from admin.database import AdminDatabase

TOKEN = "evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA"


def _publish(live, settings, domain: str, token: str = TOKEN, answer: str = "ka") -> None:
    async def publish() -> None:
        async with AdminDatabase(settings.database_path) as db:
            await ChallengeBoard(db).publish(domain, token, answer)

    live.call(publish)


def test_published_challenge_is_answered_on_its_domain(settings, live_server):
    _publish(live_server, settings, "track.brand.test", answer=f"{TOKEN}.thumb")
    with live_server.client("track.brand.test") as client:
        response = client.get(f"/.well-known/acme-challenge/{TOKEN}")
    assert response.status_code == 200
    assert response.text == f"{TOKEN}.thumb"
    assert response.headers["cache-control"] == "no-store"


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
        async with AdminDatabase(settings.database_path) as db:
            await ChallengeBoard(db).withdraw(TOKEN)

    live_server.call(withdraw)
    with live_server.client("track.brand.test") as client:
        assert client.get(f"/.well-known/acme-challenge/{TOKEN}").status_code == 404
