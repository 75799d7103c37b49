"""HTTPS with no ACME server at all: the local CA issues, the edge proves and serves."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace

import pytest
from cryptography import x509

from edge.serving.domains import TrackingHost
from edge.tokens.links import LinkBuilder
from tests.conftest import free_port
from tests.fixtures_https import add_domain, https_get, served_certificate
from tests.stores import in_store

NAME = "track.brand.test"


@pytest.fixture
def tls_settings(settings, dns_server):
    dns_server.set_a(NAME, "127.0.0.1")
    dns_server.set_a(settings.default_domain, "127.0.0.1")
    return replace(
        settings,
        https_verify_port=free_port(),
        dns_nameservers=(dns_server.nameserver,),
        dns_timeout=2.0,
    )


@pytest.fixture
def live(tls_settings, make_https_server):
    return make_https_server(tls_settings, https_port=tls_settings.https_verify_port)


def _ssl_status(settings, domain_id: int) -> str:
    domain = in_store(settings, lambda db: db.domains.get(domain_id), write=False)
    assert domain is not None
    return domain.ssl_status


def _certificate_names(settings) -> list[str]:
    certificates = in_store(settings, lambda db: db.certificates.all(), write=False)
    return [c.domain for c in certificates]


def _root(settings) -> str:
    return (settings.data_dir / "local-ca" / "root.pem").read_text()


def _provision(live, domain_id: int) -> None:
    live.call(lambda: live.manager.provision(domain_id))
    live.call(live.manager.idle)


def test_verified_domain_becomes_active_with_a_local_ca_certificate(tls_settings, live):
    domain_id = add_domain(tls_settings, NAME)
    _provision(live, domain_id)
    assert _ssl_status(tls_settings, domain_id) == "active"
    info = live.call(lambda: live.manager.status(domain_id))
    assert info.status == "active"
    assert info.issuer == "tracking-edge local CA"
    assert info.renew_at == info.not_after - live.manager.renew_before
    assert info.reason is None


def test_provision_reports_provisioning_until_the_certificate_is_proven(tls_settings, live):
    gate = asyncio.Event()
    ca = live.manager.issuer

    class Gated:
        name = "gated"

        async def issue(self, domain):
            await gate.wait()
            return await ca.issue(domain)

    live.manager.issuer = Gated()
    domain_id = add_domain(tls_settings, NAME)
    live.call(lambda: live.manager.provision(domain_id))
    assert _ssl_status(tls_settings, domain_id) == "provisioning"
    assert live.call(lambda: live.manager.status(domain_id)).status == "provisioning"
    live.loop.call_soon_threadsafe(gate.set)
    live.call(live.manager.idle)
    assert _ssl_status(tls_settings, domain_id) == "active"


def test_https_click_is_redirected_over_a_verified_connection(tls_settings, live):
    domain_id = add_domain(tls_settings, NAME)
    _provision(live, domain_id)
    live.call(lambda: live.app.runtime.domains.refresh())
    links = LinkBuilder(live.app.runtime.codec, 80, live.https_port)
    url = links.click_url(TrackingHost(NAME, 1, True, True, domain_id), 1, "https://shop.test/x")
    assert url.startswith(f"https://{NAME}:{live.https_port}/")
    path = url.split(str(live.https_port), 1)[1]
    response = https_get(live.https_port, NAME, _root(tls_settings), path)
    assert response.status_code == 302
    assert response.headers["location"] == "https://shop.test/x"
    assert response.extensions["http_version"] == b"HTTP/1.1"


def test_default_domain_gets_a_certificate_from_the_renewal_pass(tls_settings, live):
    started = live.call(live.manager.run_due)
    live.call(live.manager.idle)
    live.refresh_certificates()
    assert started == [tls_settings.default_domain]
    leaf = served_certificate(live.https_port, None)
    san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == [tls_settings.default_domain]


def test_domain_that_cannot_terminate_tls_is_failed_not_active(tls_settings, live, dns_server):
    # DNS points somewhere nothing listens: the certificate exists, the proof fails.
    dns_server.set_a(NAME, "127.0.0.9")
    live.manager.proof.timeout = 0.3
    domain_id = add_domain(tls_settings, NAME)
    _provision(live, domain_id)
    info = live.call(lambda: live.manager.status(domain_id))
    assert info.status == "failed"
    assert info.reason.startswith("HTTPS to 127.0.0.9:")


def test_failed_domain_is_retried_and_becomes_active(tls_settings, live, dns_server):
    dns_server.set_a(NAME, "127.0.0.9")
    live.manager.proof.timeout = 0.3
    live.manager.retry_base = 0.0
    domain_id = add_domain(tls_settings, NAME)
    _provision(live, domain_id)
    assert _ssl_status(tls_settings, domain_id) == "failed"
    dns_server.set_a(NAME, "127.0.0.1")
    assert NAME in live.call(live.manager.run_due)
    live.call(live.manager.idle)
    assert _ssl_status(tls_settings, domain_id) == "active"


def test_forget_drops_the_certificate(tls_settings, live):
    domain_id = add_domain(tls_settings, NAME)
    _provision(live, domain_id)
    live.call(lambda: live.manager.forget(domain_id, NAME))
    assert _ssl_status(tls_settings, domain_id) == "unavailable"
    assert _certificate_names(tls_settings) == []


def test_renaming_a_domain_drops_its_certificate(tls_settings, live):
    domain_id = add_domain(tls_settings, NAME)
    _provision(live, domain_id)
    assert _certificate_names(tls_settings) == [NAME]
    in_store(
        tls_settings,
        lambda tx: tx.domains.rename(domain_id, "other.brand.test", now=int(time.time())),
    )
    assert _certificate_names(tls_settings) == []


def test_serve_command_answers_https_beside_http_with_two_workers(tmp_path):
    import os
    import subprocess
    import sys
    import time

    import httpx

    http_port, https_port = free_port(), free_port()
    data = tmp_path / "data"
    env = {
        **os.environ,
        "EDGE_DATA_DIR": str(data),
        "EDGE_DEFAULT_DOMAIN": "track.test",
        "EDGE_ADMIN_HOST": "admin.test",
        "EDGE_SECRET_KEYS": "test-secret-key",
    }
    command = [sys.executable, "-m", "admin.cli", "serve", "--port", str(http_port),
               "--https-port", str(https_port), "--workers", "2"]  # fmt: skip
    proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 20
        while True:
            # The default domain's certificate comes from the local CA at first start.
            try:
                response = https_get(https_port, "track.test", _root_of(data), "/robots.txt")
                break
            except (httpx.TransportError, FileNotFoundError):
                assert proc.poll() is None, proc.stderr.read().decode()
                assert time.monotonic() < deadline, "HTTPS did not come up"
                time.sleep(0.05)
        assert response.status_code == 200
        with httpx.Client(trust_env=False) as client:
            plain = client.get(
                f"http://127.0.0.1:{http_port}/robots.txt", headers={"host": "track.test"}
            )
        assert plain.status_code == 200
    finally:
        proc.terminate()
        proc.wait(20)
        proc.stderr.close()


def _root_of(data) -> str:
    return (data / "local-ca" / "root.pem").read_text()
