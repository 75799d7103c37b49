"""Blocked means blocked (issue 13): after the operator blocks a domain (``domains block``),
HTTPS no longer presents its certificate and ``GET .../ssl`` says why; unblocking presents
the certificate kept, without a new issuance. The whole app, real TLS, the local CA."""

from __future__ import annotations

import httpx
import pytest

from admin.domains.service import set_compliance
from edge.model.domains import SSL_BLOCKED
from tests.fixtures_https import HttpsLive, full_app_for

NAME = "track.brand.test"
ML = "/api/v1/customer/tracking-domains"
LANDING = "https://shop.test/x"


@pytest.fixture
def live(settings, dns_server, make_https_server) -> HttpsLive:
    live = full_app_for(make_https_server, settings, dns_server, NAME)
    # The platform's default domain gets its certificate: what a blocked name is shown.
    manager = live.app.admin_app.state.services.domains.provisioner
    live.call(manager.run_due)
    live.call(manager.idle)
    live.refresh_certificates()
    return live


@pytest.fixture
def api(live) -> httpx.Client:
    services = live.app.admin_app.state.services
    account = live.call(lambda: services.accounts.ensure("acme"))
    key = live.call(lambda: services.accounts.create_key(account)).secret
    with httpx.Client(
        base_url=f"http://127.0.0.1:{live.http_port}",
        headers={"host": live.settings.admin_host, "authorization": f"Bearer {key}"},
        trust_env=False,
    ) as client:
        client.account_id = account.id  # type: ignore[attr-defined]
        yield client


def _block(live: HttpsLive, blocked: bool) -> None:
    store = live.app.admin_app.state.services.store
    live.call(lambda: set_compliance(store, NAME, blocked=blocked))  # what `domains block` runs
    # Both in-memory copies see the change now, not at their next poll: the certificates
    # (presented or withheld) and the domain table (the click served or refused).
    live.refresh_certificates()
    live.call(live.app.runtime.domains.refresh)


def test_a_blocked_domain_is_not_presented_over_https_and_its_ssl_says_why(live, api):
    domain_id = live.active_domain(api.account_id, NAME)
    active = api.get(f"{ML}/{domain_id}/ssl").json()["data"]
    assert (active["status"], active["reason"]) == ("active", None)
    assert live.click(NAME, api.account_id, LANDING).status_code == 302
    _block(live, True)
    with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        live.click(NAME, api.account_id, LANDING)
    ssl = api.get(f"{ML}/{domain_id}/ssl")
    detail = api.get(f"{ML}/{domain_id}").json()["data"]
    assert ssl.status_code == 200
    # The certificate is kept (its dates are shown), but not presented nor renewed.
    assert ssl.json() == {
        "data": {
            **active,
            "status": "unavailable",
            "renew_at": None,
            "reason": SSL_BLOCKED,
        }
    }
    assert (detail["ssl_status"], detail["compliance_status"]) == ("unavailable", "blocked")
    assert detail["ssl"] == ssl.json()["data"]


def test_unblocking_presents_the_same_certificate_again_without_issuing(live, api):
    domain_id = live.active_domain(api.account_id, NAME)
    active = api.get(f"{ML}/{domain_id}/ssl").json()["data"]
    serial = live.serial(NAME)
    _block(live, True)
    assert live.serial(NAME) != serial
    _block(live, False)
    assert live.serial(NAME) == serial
    assert live.click(NAME, api.account_id, LANDING).status_code == 302
    assert api.get(f"{ML}/{domain_id}/ssl").json()["data"] == active
    assert api.get(f"{ML}/{domain_id}").json()["data"]["ssl_status"] == "active"


def test_a_blocked_domain_is_not_renewed(live, api):
    domain_id = live.active_domain(api.account_id, NAME)
    manager = live.app.admin_app.state.services.domains.provisioner
    manager.renew_before = manager.renew_before * 1000  # every certificate is due
    _block(live, True)
    assert NAME not in live.call(manager.run_due)
    _block(live, False)
    assert NAME in live.call(manager.run_due)
    live.call(manager.idle)
    assert api.get(f"{ML}/{domain_id}/ssl").json()["data"]["status"] == "active"
