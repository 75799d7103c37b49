"""External TLS with the real Caddy in front (``EDGE_TLS=external``), certificates from Pebble.

The Caddyfile is the README's own ("TLS in front"), read from README.md, with the edge's test
port put in for ``8000`` and the test's global options added: loopback ports, storage in a
temporary directory, Pebble as the only CA (HTTP-01 only: Pebble's validator reaches Caddy's
HTTP port, and pebble-challtestsrv resolves every name to 127.0.0.1), no admin endpoint.

Caddy reaches nothing but loopback: its only issuer is Pebble (so neither Let's Encrypt nor
ZeroSSL, its defaults), it staples no OCSP (no responder to fetch from), installs no root in
the system's trust store, and has no telemetry or update check to turn off (2.x has neither).
"""

from __future__ import annotations

import re
import shutil
import socket
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.x509.verification import PolicyBuilder, Store

from edge.model.domains import TrackingHost
from edge.tokens.links import LinkBuilder
from tests.conftest import LiveServer, free_port
from tests.fixtures_acme import Pebble
from tests.fixtures_caddy import CaddyRunner
from tests.fixtures_https import add_domain, client_context
from tests.stores import stored_events

README = Path(__file__).resolve().parents[3] / "README.md"
#: The edge's port in the README's example.
README_PORT = ":8000"
#: Long enough for an ACME order with Pebble on a loaded 2-core machine.
ISSUANCE_TIMEOUT = 30.0
#: Every request Pebble's web front end serves is logged as ``<METHOD> <path> -> ...``.
PEBBLE_REQUEST = re.compile(r"^Pebble .* (GET|HEAD|POST) /", re.M)


def readme_caddyfile() -> str:
    blocks = re.findall(r"```caddyfile\n(.*?)```", README.read_text(), re.S)
    assert len(blocks) == 1, "README.md should have one Caddyfile example"
    return str(blocks[0])


def caddyfile_for(edge_port: int, global_options: str) -> str:
    """The README's Caddyfile for an edge on ``edge_port``, with ``global_options`` added."""
    text = readme_caddyfile()
    assert text.count(README_PORT) == 2, "the ask URL and the upstream, both on port 8000"
    text = text.replace(README_PORT, f":{edge_port}")
    assert text.startswith("{\n"), "the example starts with its global options"
    return "{\n" + global_options + "\n" + text[2:]


@dataclass
class Front:
    """The edge behind Caddy, which gets its certificates from Pebble."""

    edge: LiveServer
    caddy: CaddyRunner
    pebble: Pebble
    https_port: int

    def trust(self) -> ssl.SSLContext:
        return client_context(self.pebble.root_pem())

    def handshake(self, name: str) -> x509.Certificate:
        """The leaf Caddy presents for SNI ``name``, verified for it against Pebble's root."""
        with (
            socket.create_connection(("127.0.0.1", self.https_port), ISSUANCE_TIMEOUT) as raw,
            self.trust().wrap_socket(raw, server_hostname=name) as tls,
        ):
            der = tls.getpeercert(binary_form=True)
        assert der is not None
        return x509.load_der_x509_certificate(der)

    def https_get(self, url: str, *, source: str = "127.0.0.1") -> httpx.Response:
        """GET ``url`` (``https://<name>:<Caddy's port>/...``) on loopback from the address
        ``source``, verified against Pebble's root."""
        parsed = httpx.URL(url)
        transport = httpx.HTTPTransport(verify=self.trust(), local_address=source)
        with httpx.Client(transport=transport, trust_env=False, timeout=ISSUANCE_TIMEOUT) as c:
            return c.get(
                parsed.copy_with(host="127.0.0.1"),
                headers={"host": parsed.netloc.decode()},
                extensions={"sni_hostname": parsed.host},
            )


@pytest.fixture
def front(settings, pebble, caddy, make_server) -> Callable[..., Front]:
    """``front(**settings_changes)``: the edge (``EDGE_TLS=external``, the README's admin host
    ``localhost``, proving HTTPS through Caddy's port) and Caddy in front of it."""

    def make(**changes) -> Front:
        https_port = free_port()
        config = replace(
            settings,
            tls_mode="external",
            admin_host="localhost",
            https_verify_port=https_port,
            **changes,
        )
        edge = make_server(config)
        shutil.copy(pebble.tls_ca_path, caddy.directory / "pebble-tls-ca.pem")
        options = f"""    admin off
    http_port {pebble.http_port}
    https_port {https_port}
    default_bind 127.0.0.1
    ocsp_stapling off
    skip_install_trust
    storage file_system {caddy.directory / "storage"}
    cert_issuer acme {{
        dir {pebble.directory_url}
        trusted_roots {caddy.directory / "pebble-tls-ca.pem"}
        disable_tlsalpn_challenge
    }}
    {caddy.log_option()}"""
        caddy.start(caddyfile_for(edge.port, options), ports=(pebble.http_port, https_port))
        return Front(edge, caddy, pebble, https_port)

    return make


def _served(live: LiveServer, name: str) -> None:
    table = live.app.runtime.domains
    deadline = time.monotonic() + 5
    while table.served(name) is None:
        assert time.monotonic() < deadline, f"{name} not served within 5 s"
        live.call(table.wait_changed, timeout=5)


def test_verified_domain_gets_a_pebble_certificate_on_the_first_handshake(settings, front):
    name = "track.brand.test"
    add_domain(settings, name)
    stack = front()
    _served(stack.edge, name)
    pebble_before = len(PEBBLE_REQUEST.findall(stack.pebble.log_text()))
    leaf = stack.handshake(name)  # the first: Caddy has no certificate before it
    # Pebble's log shows the order (what the unverified domain's test sees none of).
    assert len(PEBBLE_REQUEST.findall(stack.pebble.log_text())) > pebble_before
    assert leaf.issuer.rfc4514_string().startswith("CN=Pebble Intermediate CA")
    names = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == [name]
    root = x509.load_pem_x509_certificate(stack.pebble.root_pem().encode())
    intermediate = x509.load_pem_x509_certificate(stack.pebble.intermediate_pem().encode())
    verifier = PolicyBuilder().store(Store([root])).build_server_verifier(x509.DNSName(name))
    verifier.verify(leaf, [intermediate])
    # Obtained on demand for that handshake, by HTTP-01 through Caddy's HTTP port.
    assert [e["identifier"] for e in stack.caddy.await_said("certificate obtained")] == [name]
    assert {e["challenge"] for e in stack.caddy.said("served key authentication")} == {"http-01"}


def test_click_over_https_through_caddy_redirects(settings, front):
    name = "click.brand.test"
    add_domain(settings, name)
    stack = front()
    _served(stack.edge, name)
    links = LinkBuilder(stack.edge.app.runtime.codec, https_port=stack.https_port)
    host = TrackingHost(name, 1, secure=True, served=True)
    url = links.click_url(host, 1, "https://shop.example/landing?id=7")
    assert url.startswith(f"https://{name}:{stack.https_port}/e/")
    response = stack.https_get(url)
    assert response.status_code == 302
    assert response.headers["location"] == "https://shop.example/landing?id=7"
    assert response.headers["cache-control"] == "no-store"


def test_clicks_through_caddy_record_the_clients_address_with_trusted_proxies(settings, front):
    # Caddy's reverse_proxy sends X-Forwarded-For; the edge believes it from Caddy's address.
    name = "click.brand.test"
    add_domain(settings, name)
    stack = front(trusted_proxies=("127.0.0.1/32",))
    _served(stack.edge, name)
    links = LinkBuilder(stack.edge.app.runtime.codec, https_port=stack.https_port)
    url = links.click_url(TrackingHost(name, 1, secure=True, served=True), 1, "https://a.example/")
    assert stack.https_get(url, source="127.0.0.2").status_code == 302
    stack.edge.drain()
    assert [(e.domain, e.client_ip) for e in stored_events(stack.edge.app.runtime.settings)] == [
        (name, "127.0.0.2")
    ]


def test_unverified_domain_gets_no_certificate_and_pebble_is_never_asked(settings, front):
    name = "other.brand.test"
    add_domain(settings, name, verified=False)
    stack = front()
    stack.edge.call(stack.edge.app.runtime.domains.refresh)
    pebble_before = len(PEBBLE_REQUEST.findall(stack.pebble.log_text()))
    with pytest.raises(ssl.SSLError, match="TLSV1_ALERT_INTERNAL_ERROR"):
        stack.handshake(name)
    # Caddy asked the edge, which said 404; nothing went to Pebble (Caddy obtains on demand
    # inside the handshake, so an order would have been made before the handshake failed).
    refusals = stack.caddy.await_said(f"{name}: certificate not allowed by ask endpoint")
    assert [(e["logger"], e["msg"].split(": ", 2)[0]) for e in refusals] == [
        ("http.stdlib", "http")
    ]
    assert refusals[0]["msg"].startswith("http: TLS handshake error from 127.0.0.1:")
    assert refusals[0]["msg"].endswith(
        f"{name}: certificate not allowed by ask endpoint "
        f"http://localhost:{stack.edge.port}/internal/tls-allowed - non-2xx status code 404"
    )
    assert stack.caddy.said("obtaining") == []
    assert len(PEBBLE_REQUEST.findall(stack.pebble.log_text())) == pebble_before


def test_domain_verified_through_the_api_becomes_active_behind_caddy(front, pebble, dns_server):
    """create → CNAME → verify (through Caddy's HTTP port) → the edge's HTTPS proof through
    Caddy gets Caddy a certificate on demand → ``active``."""
    name = "track.brand.test"
    dns_server.set_a("edge.test", "127.0.0.1")
    dns_server.set_cname("*.edge.test", "edge.test")  # the operator's wildcard
    stack = front(
        cname_target="edge.test",
        dns_nameservers=(dns_server.nameserver,),
        verify_port=pebble.http_port,  # Caddy's HTTP port
    )
    services = stack.edge.app.admin_app.state.services
    provisioner = services.domains.provisioner
    provisioner.proof.trust = stack.trust()
    account = stack.edge.call(lambda: services.accounts.ensure("acme"))
    key = stack.edge.call(lambda: services.accounts.create_key(account)).secret
    base = "/api/v1/customer/tracking-domains"
    with httpx.Client(
        base_url=stack.edge.url,
        headers={"host": "localhost", "authorization": f"Bearer {key}"},
        trust_env=False,
    ) as admin:
        created = admin.post(base, json={"domain": name, "secure": True})
        assert created.status_code == 201, created.text
        domain_id = created.json()["data"]["id"]
        # The account's own target, as the API tells the customer.
        dns_server.set_cname(name, created.json()["data"]["dns_record"]["target"])
        verified = admin.post(f"{base}/{domain_id}/verify")
        assert verified.status_code == 200, verified.text
        assert verified.json()["data"]["verified"] is True
        assert verified.json()["data"]["ssl_status"] == "provisioning"
        stack.edge.call(provisioner.idle, timeout=ISSUANCE_TIMEOUT)  # the proof has run
        view = admin.get(f"{base}/{domain_id}/ssl").json()["data"]
    # Active, with nothing of a certificate here: it is Caddy's, obtained on demand for the
    # edge's own HTTPS proof.
    assert view == {
        "id": domain_id,
        "domain": name,
        "status": "active",
        "issuer": None,
        "not_before": None,
        "not_after": None,
        "renew_at": None,
        "reason": None,
    }
    assert [e["identifier"] for e in stack.caddy.await_said("certificate obtained")] == [name]


def test_missing_caddy_fails_with_a_clear_message(monkeypatch):
    from tests import fixtures_caddy

    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(pytest.fail.Exception) as failure:
        fixtures_caddy.caddy_binary()
    assert str(failure.value).startswith("caddy is not installed: the external TLS tests need")
