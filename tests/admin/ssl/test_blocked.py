"""Blocked means blocked (issue 13): after the operator blocks a domain (``domains block``),
HTTPS no longer presents its certificate and ``GET .../ssl`` says why; unblocking presents
the certificate kept, without a new issuance. The whole app, real TLS, the local CA."""

from __future__ import annotations

import time
from dataclasses import replace

import httpx
import pytest
from cryptography import x509

from admin.domains.service import set_compliance
from edge.model.domains import SSL_BLOCKED
from edge.serving.domains import TrackingHost
from edge.tokens.links import LinkBuilder
from tests.conftest import free_port
from tests.fixtures_https import HttpsLive, https_get, served_certificate
from tests.stores import in_store

NAME = "track.brand.test"
ML = "/api/v1/customer/tracking-domains"
LANDING = "https://shop.test/x"


@pytest.fixture
def live(settings, dns_server, make_https_server) -> HttpsLive:
    dns_server.set_a(NAME, "127.0.0.1")
    port = free_port()
    config = replace(
        settings,
        https_verify_port=port,
        dns_nameservers=(dns_server.nameserver,),
        dns_timeout=2.0,
    )
    live = make_https_server(config, full=True, https_port=port)
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


def _active_domain(live: HttpsLive, account_id: int) -> int:
    """A verified domain of the account with an active certificate from the local CA."""

    async def add(tx):
        domain_id = await tx.domains.insert(account_id, NAME, secure=True, now=int(time.time()))
        await tx.domains.mark_valid(domain_id, "", checked=time.time(), now=int(time.time()))
        return domain_id

    domain_id = in_store(live.settings, add)
    manager = live.app.admin_app.state.services.domains.provisioner
    live.call(lambda: manager.provision(domain_id))
    live.call(manager.idle)
    return domain_id


def _block(live: HttpsLive, blocked: bool) -> None:
    store = live.app.admin_app.state.services.store
    live.call(lambda: set_compliance(store, NAME, blocked=blocked))  # what `domains block` runs
    # Both in-memory copies see the change now, not at their next poll: the certificates
    # (presented or withheld) and the domain table (the click served or refused).
    live.refresh_certificates()
    live.call(live.app.runtime.domains.refresh)


def _click(live: HttpsLive, account_id: int) -> httpx.Response:
    links = LinkBuilder(live.app.runtime.codec, 80, live.https_port)
    url = links.click_url(TrackingHost(NAME, account_id, True, True), account_id, LANDING)
    root = (live.settings.data_dir / "local-ca" / "root.pem").read_text()
    return https_get(live.https_port, NAME, root, httpx.URL(url).raw_path.decode())


def _serial(live: HttpsLive) -> int:
    leaf: x509.Certificate = served_certificate(live.https_port, NAME)
    return leaf.serial_number


def test_a_blocked_domain_is_not_presented_over_https_and_its_ssl_says_why(live, api):
    domain_id = _active_domain(live, api.account_id)
    active = api.get(f"{ML}/{domain_id}/ssl").json()["data"]
    assert (active["status"], active["reason"]) == ("active", None)
    assert _click(live, api.account_id).status_code == 302
    _block(live, True)
    with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        _click(live, api.account_id)
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
    domain_id = _active_domain(live, api.account_id)
    active = api.get(f"{ML}/{domain_id}/ssl").json()["data"]
    serial = _serial(live)
    _block(live, True)
    assert _serial(live) != serial
    _block(live, False)
    assert _serial(live) == serial
    assert _click(live, api.account_id).status_code == 302
    assert api.get(f"{ML}/{domain_id}/ssl").json()["data"] == active
    assert api.get(f"{ML}/{domain_id}").json()["data"]["ssl_status"] == "active"


def test_a_blocked_domain_is_not_renewed(live, api):
    domain_id = _active_domain(live, api.account_id)
    manager = live.app.admin_app.state.services.domains.provisioner
    manager.renew_before = manager.renew_before * 1000  # every certificate is due
    _block(live, True)
    assert NAME not in live.call(manager.run_due)
    _block(live, False)
    assert NAME in live.call(manager.run_due)
    live.call(manager.idle)
    assert api.get(f"{ML}/{domain_id}/ssl").json()["data"]["status"] == "active"
