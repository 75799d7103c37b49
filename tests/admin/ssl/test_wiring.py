"""``GET /internal/tls-allowed``: the ``ask`` endpoint for a TLS terminator in front."""

from __future__ import annotations

import ssl
import time
from dataclasses import replace

import pytest

from admin.ssl.lifecycle import CertificateManager
from admin.ssl.local_ca import LocalCA
from admin.ssl.wiring import tls_allowed
from edge.config import ConfigError, Settings
from tests.conftest import free_port
from tests.fixtures_https import add_domain, put_certificate
from tests.stores import in_store


def _ask(live, name: str):
    with live.client("admin.test") as client:
        return client.get("/internal/tls-allowed", params={"domain": name})


def _served(live, name: str, served: bool) -> None:
    table = live.app.runtime.domains
    deadline = time.monotonic() + 2
    while (table.served(name) is not None) != served:
        assert time.monotonic() < deadline, f"{name} served={served} not reached"
        live.call(table.wait_changed, timeout=2)


def test_verified_domain_is_allowed(settings, live_server):
    add_domain(settings, "track.brand.test")
    _served(live_server, "track.brand.test", True)
    response = _ask(live_server, "Track.Brand.TEST.")
    assert (response.status_code, response.text) == (200, "allowed\n")


def test_default_domain_is_allowed(live_server):
    assert _ask(live_server, "track.test").status_code == 200


def test_unverified_domain_is_refused(settings, live_server):
    add_domain(settings, "track.brand.test", verified=False)
    live_server.call(live_server.app.runtime.domains.refresh)
    response = _ask(live_server, "track.brand.test")
    assert (response.status_code, response.text) == (404, "not a served tracking domain\n")


def test_blocked_domain_is_refused(settings, live_server):
    domain_id = add_domain(settings, "track.brand.test")
    _served(live_server, "track.brand.test", True)
    in_store(settings, lambda tx: tx.domains.set_compliance(domain_id, blocked=True, now=0))
    _served(live_server, "track.brand.test", False)
    assert _ask(live_server, "track.brand.test").status_code == 404


@pytest.mark.parametrize("name", ["unknown.test", "", "bad host", "admin.test"])
def test_unknown_or_invalid_names_are_refused(live_server, name):
    assert _ask(live_server, name).status_code == 404


def test_missing_parameter_is_refused(live_server):
    with live_server.client("admin.test") as client:
        assert client.get("/internal/tls-allowed").status_code == 404


def test_ask_is_not_served_on_tracking_domains(live_server):
    with live_server.client("track.test") as client:
        response = client.get("/internal/tls-allowed", params={"domain": "track.test"})
    assert response.status_code == 404
    assert response.text != "allowed\n"


def test_answer_reads_no_database(settings, live_server):
    # The handler alone, as Starlette calls it: a dict lookup, no database read. The worker's
    # store, through which every read and write goes, is spied on; uses by this task are
    # recorded (the background loops' own reads are not this handler's).
    import asyncio

    add_domain(settings, "track.brand.test")
    _served(live_server, "track.brand.test", True)
    from starlette.requests import Request

    admin_app = live_server.app.admin_app
    store = live_server.app.runtime.store
    assert admin_app.state.services.store is store  # one store per worker
    uses: list[str] = []

    def request(name: str) -> Request:
        scope = {
            "type": "http",
            "method": "GET",
            "path": "/internal/tls-allowed",
            "query_string": f"domain={name}".encode(),
            "headers": [],
            "app": admin_app,
        }
        return Request(scope)

    def spy(method: str, task: asyncio.Task):
        real = getattr(store, method)

        def call(*args, **kwargs):
            if asyncio.current_task() is task:
                uses.append(method)
            return real(*args, **kwargs)

        return call

    methods = ("reading", "transaction")

    async def answers() -> tuple[list[int], list[str]]:
        task = asyncio.current_task()
        for method in methods:
            setattr(store, method, spy(method, task))
        try:
            async with store.reading() as db:  # the spy sees reads
                await db.conn.fetchone("SELECT 1")
            seen = list(uses)
            uses.clear()
            codes = [
                (await tls_allowed(request(name))).status_code
                for name in ("track.brand.test", "other.brand.test", "track.test")
            ]
        finally:
            for method in methods:
                delattr(store, method)
        return codes, seen

    codes, seen = live_server.call(answers)
    assert seen == ["reading"]
    assert codes == [200, 404, 200]
    assert uses == []


def test_external_mode_issues_nothing_and_creates_no_local_ca(settings, make_server):
    live = make_server(replace(settings, tls_mode="external"))
    provisioner = live.app.admin_app.state.services.domains.provisioner
    assert isinstance(provisioner, CertificateManager)
    assert provisioner.issuer is None
    assert live.call(provisioner.run_due) == []  # no default-domain certificate either
    assert not (settings.data_dir / "local-ca").exists()


def test_external_mode_proves_the_terminators_certificate(settings, dns_server, make_https_server):
    # The "terminator" is an edge serving a local-CA certificate; the proof trusts that CA.
    name = "track.brand.test"
    dns_server.set_a(name, "127.0.0.1")
    ca = LocalCA(settings.data_dir / "local-ca")
    issued = ca.issue_now(name)
    put_certificate(settings, name, issued.chain_pem, issued.key_pem)
    port = free_port()
    config = replace(
        settings,
        tls_mode="external",
        https_verify_port=port,
        dns_nameservers=(dns_server.nameserver,),
    )
    live = make_https_server(config, https_port=port)
    assert live.manager.issuer is None
    live.manager.proof.trust = ssl.create_default_context(cafile=ca.root_path)
    domain_id = add_domain(config, name)
    live.call(lambda: live.manager.provision(domain_id))
    live.call(live.manager.idle)
    info = live.call(lambda: live.manager.status(domain_id))
    assert (info.status, info.issuer, info.reason) == ("active", "tracking-edge local CA", None)


def test_external_mode_fails_a_certificate_that_does_not_verify(
    settings, dns_server, make_https_server
):
    name = "track.brand.test"
    dns_server.set_a(name, "127.0.0.1")
    issued = LocalCA(settings.data_dir / "local-ca").issue_now(name)
    put_certificate(settings, name, issued.chain_pem, issued.key_pem)
    port = free_port()
    config = replace(
        settings,
        tls_mode="external",
        https_verify_port=port,
        dns_nameservers=(dns_server.nameserver,),
    )
    live = make_https_server(config, https_port=port)
    live.manager.proof.timeout = 0.3
    domain_id = add_domain(config, name)
    live.call(lambda: live.manager.provision(domain_id))
    live.call(live.manager.idle)
    info = live.call(lambda: live.manager.status(domain_id))
    assert info.status == "failed"
    assert "CERTIFICATE_VERIFY_FAILED" in info.reason


def test_builtin_mode_provisions_through_the_certificate_manager(live_server):
    services = live_server.app.admin_app.state.services
    assert isinstance(services.domains.provisioner, CertificateManager)


def test_tls_mode_is_validated():
    assert Settings.from_env({"EDGE_TLS": "External"}).tls_mode == "external"
    with pytest.raises(ConfigError, match="EDGE_TLS must be one of builtin, external"):
        Settings.from_env({"EDGE_TLS": "caddy"})


def test_proof_port_defaults_to_the_public_https_port():
    assert Settings.from_env({}).https_verify_port == 443
    assert Settings.from_env({"EDGE_PUBLIC_HTTPS_PORT": "8443"}).https_verify_port == 8443
    env = {"EDGE_PUBLIC_HTTPS_PORT": "8443", "EDGE_HTTPS_VERIFY_PORT": "9443"}
    assert Settings.from_env(env).https_verify_port == 9443
