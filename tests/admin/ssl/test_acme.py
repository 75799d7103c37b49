"""Certificates from a real ACME server (Pebble), HTTP-01 answered by the edge itself."""

from __future__ import annotations

import contextlib
import stat
from dataclasses import replace

import pytest
from cryptography import x509
from cryptography.x509.verification import PolicyBuilder, Store

from admin.ssl.acme import AcmeAccountConfig, AcmeIssuer
from admin.ssl.challenges import ChallengeBoard
from tests.fixtures_acme import start_pebble
from tests.fixtures_https import add_domain, https_get, served_certificate
from tests.stores import in_store, store_at

NAME = "track.brand.test"


def acme_settings(settings, pebble, dns_server, https_port):
    return replace(
        settings,
        acme_directory=pebble.directory_url,
        acme_ca_bundle=str(pebble.tls_ca_path),
        acme_email="ops@brand.test",
        https_verify_port=https_port,
        dns_nameservers=(dns_server.nameserver,),
        dns_timeout=2.0,
        ssl_retry_base=0.0,
    )


@pytest.fixture
def edge(settings, pebble, dns_server, make_https_server):
    """The edge on Pebble's HTTP-01 port, issuing from Pebble."""
    from tests.conftest import free_port

    https_port = free_port()
    for name in (NAME, "a.brand.test", "b.brand.test"):
        dns_server.set_a(name, "127.0.0.1")
    config = acme_settings(settings, pebble, dns_server, https_port)
    return make_https_server(config, http_port=pebble.http_port, https_port=https_port)


def _status(settings, domain_id: int) -> str:
    return in_store(settings, lambda db: db.domains.get(domain_id), write=False).ssl_status


def _provision(live, domain_id: int, *, force: bool = False) -> None:
    # The challenge is answered only for hosts in the edge's domain table: a domain inserted
    # just now is loaded first, as the table's poll would (a created domain is, long before
    # it is verified and provisioned).
    live.call(live.app.runtime.domains.refresh)
    live.call(lambda: live.manager.provision(domain_id, force=force))
    live.call(live.manager.idle)


def _serial(cert: x509.Certificate) -> str:
    return format(cert.serial_number, "x")


def test_certificate_is_issued_and_served_for_the_domain(edge, pebble):
    domain_id = add_domain(edge.settings, NAME)
    _provision(edge, domain_id)
    assert _status(edge.settings, domain_id) == "active"
    info = edge.call(lambda: edge.manager.status(domain_id))
    assert info.issuer.startswith("Pebble Intermediate CA")
    # Verified against Pebble's root, with the name sent as SNI.
    response = https_get(edge.https_port, NAME, pebble.root_pem(), "/no-such-token")
    assert response.status_code == 404
    leaf = served_certificate(edge.https_port, NAME)
    intermediate = x509.load_pem_x509_certificate(pebble.intermediate_pem().encode())
    root = x509.load_pem_x509_certificate(pebble.root_pem().encode())
    verifier = PolicyBuilder().store(Store([root])).build_server_verifier(x509.DNSName(NAME))
    verifier.verify(leaf, [intermediate])


def test_challenges_are_withdrawn_after_the_order(edge):
    _provision(edge, add_domain(edge.settings, NAME))
    # Raw: no repository lists the challenges (they are answered by token).
    count = "SELECT count(*) FROM acme_challenges"
    assert in_store(edge.settings, lambda db: db.conn.fetchall(count), write=False) == [(0,)]


def test_account_key_is_created_once_and_private(edge):
    _provision(edge, add_domain(edge.settings, NAME))
    keys = list((edge.settings.data_dir / "acme").glob("account-*.pem"))
    assert len(keys) == 1
    assert stat.S_IMODE(keys[0].stat().st_mode) == 0o600
    before = keys[0].read_bytes()
    _provision(edge, add_domain(edge.settings, "a.brand.test"))
    assert keys[0].read_bytes() == before


def test_existing_account_is_found_again_by_a_new_process(edge, pebble):
    _provision(edge, add_domain(edge.settings, NAME))

    async def issue_again():
        async with store_at(edge.settings) as store:
            config = AcmeAccountConfig(pebble.directory_url, ca_bundle=str(pebble.tls_ca_path))
            issuer = AcmeIssuer(config, edge.settings.data_dir / "acme", ChallengeBoard(store))
            return await issuer.issue(NAME)

    issued = edge.call(issue_again)
    leaf = x509.load_pem_x509_certificate(issued.chain_pem.encode())
    assert leaf.extensions.get_extension_for_class(
        x509.SubjectAlternativeName
    ).value.get_values_for_type(x509.DNSName) == [NAME]


def test_unreachable_challenge_fails_with_the_cas_reason_then_retry_succeeds(edge, pebble):
    pebble.set_address(NAME, "127.0.0.2")  # nothing listens there
    try:
        domain_id = add_domain(edge.settings, NAME)
        _provision(edge, domain_id)
        info = edge.call(lambda: edge.manager.status(domain_id))
        assert info.status == "failed"
        assert info.reason.startswith("connection: ")
        assert "127.0.0.2" in info.reason
    finally:
        pebble.clear_address(NAME)
    assert NAME in edge.call(edge.manager.run_due)
    edge.call(edge.manager.idle)
    assert _status(edge.settings, domain_id) == "active"


def test_failed_attempts_back_off(edge, pebble):
    edge.manager.retry_base = 30.0
    pebble.set_address(NAME, "127.0.0.2")
    try:
        domain_id = add_domain(edge.settings, NAME)
        _provision(edge, domain_id)
    finally:
        pebble.clear_address(NAME)
    # Not retried before its time.
    assert NAME not in edge.call(edge.manager.run_due)
    edge.call(edge.manager.idle)
    attempts = in_store(edge.settings, lambda db: db.certificates.attempts(NAME), write=False)
    assert attempts == 1


def test_sni_names_never_get_another_domains_certificate(edge):
    a = add_domain(edge.settings, "a.brand.test")
    b = add_domain(edge.settings, "b.brand.test")
    _provision(edge, a)
    _provision(edge, b)
    edge.refresh_certificates()
    for name in ("a.brand.test", "b.brand.test"):
        leaf = served_certificate(edge.https_port, name)
        san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        assert san.get_values_for_type(x509.DNSName) == [name]
    # A name with no certificate (and no default domain certificate): no handshake at all.
    import ssl

    with pytest.raises(ssl.SSLError):
        served_certificate(edge.https_port, "c.brand.test")


def test_manual_reprovisioning_replaces_the_certificate(edge):
    domain_id = add_domain(edge.settings, NAME)
    _provision(edge, domain_id)
    edge.refresh_certificates()
    first = _serial(served_certificate(edge.https_port, NAME))
    _provision(edge, domain_id, force=True)
    edge.refresh_certificates()
    assert _serial(served_certificate(edge.https_port, NAME)) != first
    assert _status(edge.settings, domain_id) == "active"


def test_certificate_near_expiry_is_renewed_and_served_without_restart(
    settings, dns_server, make_https_server, tmp_path
):
    # Pebble issuing one-hour certificates: well inside the 30-day renewal window.
    short = start_pebble(tmp_path / "pebble-short", certificateValidityPeriod=3600)
    try:
        from tests.conftest import free_port

        https_port = free_port()
        dns_server.set_a(NAME, "127.0.0.1")
        config = acme_settings(settings, short, dns_server, https_port)
        live = make_https_server(config, http_port=short.http_port, https_port=https_port)
        domain_id = add_domain(config, NAME)
        _provision(live, domain_id)
        live.refresh_certificates()
        first = served_certificate(live.https_port, NAME)
        assert (first.not_valid_after_utc - first.not_valid_before_utc).total_seconds() <= 3601
        info = live.call(lambda: live.manager.status(domain_id))
        assert info.renew_at < info.not_before  # due at once
        assert NAME in live.call(live.manager.run_due)
        live.call(live.manager.idle)
        live.refresh_certificates()
        second = served_certificate(live.https_port, NAME)
        assert _serial(second) != _serial(first)
        assert _status(config, domain_id) == "active"
    finally:
        short.stop()


def test_external_account_binding_is_sent_when_configured(
    settings, dns_server, make_https_server, tmp_path
):
    hmac_key = "zWNDZM6eQGHWpSRTPal5eIUYFTu7EajVIoguysqZ9wG44nMEtx3MUAsUDkMTQ12W"
    eab = start_pebble(
        tmp_path / "pebble-eab",
        externalAccountBindingRequired=True,
        externalAccountMACKeys={"kid-1": hmac_key},
    )
    try:
        from tests.conftest import free_port

        https_port = free_port()
        dns_server.set_a(NAME, "127.0.0.1")
        config = acme_settings(settings, eab, dns_server, https_port)
        config = replace(config, acme_eab_kid="kid-1", acme_eab_hmac=hmac_key)
        live = make_https_server(config, http_port=eab.http_port, https_port=https_port)
        domain_id = add_domain(config, NAME)
        _provision(live, domain_id)
        assert _status(config, domain_id) == "active"
    finally:
        eab.stop()


def test_ca_requiring_external_account_binding_is_reported(
    settings, dns_server, make_https_server, tmp_path
):
    eab = start_pebble(
        tmp_path / "pebble-eab",
        externalAccountBindingRequired=True,
        externalAccountMACKeys={"kid-1": "c2VjcmV0"},
    )
    try:
        from tests.conftest import free_port

        https_port = free_port()
        config = acme_settings(settings, eab, dns_server, https_port)
        live = make_https_server(config, http_port=eab.http_port, https_port=https_port)
        domain_id = add_domain(config, NAME)
        _provision(live, domain_id)
        info = live.call(lambda: live.manager.status(domain_id))
        assert info.status == "failed"
        assert info.reason == (
            "the ACME CA requires external account binding: "
            "set EDGE_ACME_EAB_KID and EDGE_ACME_EAB_HMAC"
        )
    finally:
        eab.stop()


def test_whole_flow_through_the_admin_api(settings, pebble, dns_server, make_https_server):
    """create → CNAME → verify → provisioning → active → HTTPS click answered with the redirect."""
    import time

    import httpx

    from edge.serving.domains import TrackingHost
    from edge.tokens.links import LinkBuilder
    from tests.conftest import free_port

    https_port = free_port()
    config = replace(
        acme_settings(settings, pebble, dns_server, https_port),
        cname_target="edge.test",
        verify_port=pebble.http_port,
    )
    dns_server.set_a("edge.test", "127.0.0.1")
    dns_server.set_cname("*.edge.test", "edge.test")  # the operator's wildcard
    live = make_https_server(config, full=True, http_port=pebble.http_port, https_port=https_port)
    services = live.app.admin_app.state.services
    account = live.call(lambda: services.accounts.ensure("acme"))
    key = live.call(lambda: services.accounts.create_key(account)).secret
    base = "/api/v1/customer/tracking-domains"
    with httpx.Client(
        base_url=f"http://127.0.0.1:{live.http_port}",
        headers={"host": config.admin_host, "authorization": f"Bearer {key}"},
        trust_env=False,
    ) as admin:
        created = admin.post(base, json={"domain": NAME, "secure": True})
        assert created.status_code == 201, created.text
        domain_id = created.json()["data"]["id"]
        dns_server.set_cname(NAME, created.json()["data"]["dns_record"]["target"])
        verified = admin.post(f"{base}/{domain_id}/verify")
        assert verified.status_code == 200, verified.text
        first = admin.get(f"{base}/{domain_id}/ssl").json()["data"]
        assert first["status"] == "provisioning"
        deadline = time.monotonic() + 20
        while True:
            ssl_view = admin.get(f"{base}/{domain_id}/ssl").json()["data"]
            if ssl_view["status"] != "provisioning" or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        assert ssl_view["status"] == "active", ssl_view
        assert ssl_view["issuer"].startswith("Pebble Intermediate CA")
        assert ssl_view["reason"] is None
    links = LinkBuilder(live.app.runtime.codec, http_port=80, https_port=https_port)
    host = TrackingHost(NAME, account.id, secure=True, served=True)
    url = links.click_url(host, account.id, "https://shop.example/landing?id=7")
    assert url.startswith(f"https://{NAME}:{https_port}/")
    response = https_get(https_port, NAME, pebble.root_pem(), httpx.URL(url).raw_path.decode())
    assert response.status_code == 302
    assert response.headers["location"] == "https://shop.example/landing?id=7"


def test_failed_issuance_is_retried_by_the_background_job(edge, pebble):
    import time

    edge.manager.retry_base = 0.05
    edge.manager.check_interval = 0.05
    pebble.set_address(NAME, "127.0.0.2")
    try:
        domain_id = add_domain(edge.settings, NAME)
        _provision(edge, domain_id)
        assert _status(edge.settings, domain_id) == "failed"
    finally:
        pebble.clear_address(NAME)
    running = contextlib.AsyncExitStack()
    edge.call(lambda: running.enter_async_context(edge.manager.running()))
    try:
        deadline = time.monotonic() + 10
        while _status(edge.settings, domain_id) != "active":
            assert time.monotonic() < deadline, "not retried within 10 s"
            time.sleep(0.02)
    finally:
        edge.call(running.aclose)


def test_missing_pebble_fails_with_a_clear_message(monkeypatch, tmp_path):
    import shutil

    from tests import fixtures_acme

    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(pytest.fail.Exception) as failure:
        fixtures_acme.start_pebble(tmp_path / "pebble")
    assert str(failure.value).startswith("pebble is not installed: the ACME tests need Debian's")
