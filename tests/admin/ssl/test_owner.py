"""Certificates are the verified owner's (issue 13, item 2): another account's claim on the
name neither gets one, nor withholds, nor takes the owner's, when it is made or goes. The
whole app, real TLS, the local CA."""

from __future__ import annotations

import httpx
import pytest

from edge.model.domains import SSL_UNVERIFIED
from tests.fixtures_https import HttpsLive, full_app_for

NAME = "track.brand.test"
ML = "/api/v1/customer/tracking-domains"
LANDING = "https://shop.test/x"


@pytest.fixture
def live(settings, dns_server, make_https_server) -> HttpsLive:
    return full_app_for(make_https_server, settings, dns_server, NAME)


def _client(live: HttpsLive, account: str) -> tuple[int, httpx.Client]:
    services = live.app.admin_app.state.services
    found = live.call(lambda: services.accounts.ensure(account))
    key = live.call(lambda: services.accounts.create_key(found)).secret
    client = httpx.Client(
        base_url=f"http://127.0.0.1:{live.http_port}",
        headers={"host": live.settings.admin_host, "authorization": f"Bearer {key}"},
        trust_env=False,
    )
    return found.id, client


def test_another_accounts_claim_neither_gets_withholds_nor_takes_the_certificate(live):
    owner, a = _client(live, "owner")
    _, b = _client(live, "squatter")
    with a, b:
        # B claims the name first (a verified owner's name would be a 409), then A verifies.
        claim = b.post(ML, json={"domain": NAME}).json()["data"]
        owned = live.active_domain(owner, NAME)
        serial = live.serial(NAME)
        active = a.get(f"{ML}/{owned}/ssl").json()["data"]
        assert (active["status"], live.click(NAME, owner, LANDING).status_code) == ("active", 302)
        issue = b.post(f"{ML}/{claim['id']}/ssl")
        assert (issue.status_code, issue.json()["error"]["code"]) == (422, "domain_unverified")
        assert b.get(f"{ML}/{claim['id']}/ssl").json()["data"] == {
            "id": claim["id"],
            "domain": NAME,
            "status": "unavailable",
            "issuer": None,
            "not_before": None,
            "not_after": None,
            "renew_at": None,
            "reason": SSL_UNVERIFIED,
        }
        assert b.delete(f"{ML}/{claim['id']}").status_code == 204
        live.refresh_certificates()
        assert (live.serial(NAME), live.click(NAME, owner, LANDING).status_code) == (serial, 302)
        assert a.get(f"{ML}/{owned}/ssl").json()["data"] == active
