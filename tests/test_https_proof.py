"""The HTTPS request that must succeed before a certificate is reported ``active``."""

from __future__ import annotations

from dataclasses import replace

import pytest

from admin.dns import make_resolver
from admin.https_proof import HttpsProof, ProofFailed
from admin.local_ca import LocalCA
from admin.reachability import AddressPolicy
from tests.conftest import free_port
from tests.fixtures_https import put_certificate

NAME = "track.brand.test"


@pytest.fixture
def served(settings, dns_server, make_https_server):
    """An edge serving a local-CA certificate for NAME; returns (live, issued chain)."""
    dns_server.set_a(NAME, "127.0.0.1")
    issued = LocalCA(settings.data_dir / "local-ca").issue_now(NAME)
    put_certificate(settings, NAME, issued.chain_pem, issued.key_pem)
    https_port = free_port()
    live = make_https_server(replace(settings, https_verify_port=https_port), https_port=https_port)
    return live, issued.chain_pem


def _proof(live, dns_server, *, policy=None, proof=None) -> HttpsProof:
    codec = live.app.runtime.codec
    return HttpsProof(
        make_resolver((dns_server.nameserver,), 1.0),
        proof or codec.domain_proof,
        port=live.https_port,
        timeout=0.3,
        policy=policy,
    )


def test_domain_serving_its_certificate_and_proof_passes(served, dns_server):
    live, chain = served
    live.call(lambda: _proof(live, dns_server).prove(NAME, chain))


def test_domain_serving_another_certificate_fails(served, dns_server, settings):
    live, _ = served
    other = LocalCA(settings.data_dir / "local-ca").issue_now(NAME).chain_pem
    with pytest.raises(ProofFailed) as failure:
        live.call(lambda: _proof(live, dns_server).prove(NAME, other))
    assert failure.value.reason == f"{NAME} serves a different certificate over HTTPS"


def test_domain_answered_by_another_server_fails(served, dns_server):
    live, chain = served
    with pytest.raises(ProofFailed) as failure:
        live.call(lambda: _proof(live, dns_server, proof=lambda d: "other").prove(NAME, chain))
    assert failure.value.reason == f"https://{NAME} is answered by another server"


def test_domain_without_addresses_fails(served, dns_server):
    live, chain = served
    with pytest.raises(ProofFailed) as failure:
        live.call(lambda: _proof(live, dns_server).prove("nowhere.brand.test", chain))
    assert failure.value.reason == "nowhere.brand.test has no address records"


def test_address_outside_the_allowed_networks_is_not_connected_to(served, dns_server):
    live, chain = served
    policy = AddressPolicy(allowed=())
    with pytest.raises(ProofFailed) as failure:
        live.call(lambda: _proof(live, dns_server, policy=policy).prove(NAME, chain))
    assert failure.value.reason.startswith("refusing to connect to 127.0.0.1: not a public address")
