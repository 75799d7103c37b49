"""The embedded CA: created once in the data directory, issuing verifiable leaves at once."""

from __future__ import annotations

import stat
from datetime import UTC, datetime, timedelta
from ipaddress import ip_address

from cryptography import x509
from cryptography.x509.verification import PolicyBuilder, Store

from admin.ssl.local_ca import LocalCA


def _verify(root: x509.Certificate, chain_pem: str, name: x509.GeneralName) -> None:
    leaf = x509.load_pem_x509_certificate(chain_pem.encode())
    verifier = PolicyBuilder().store(Store([root])).build_server_verifier(name)
    verifier.verify(leaf, [])


def test_root_is_created_once_and_reused(tmp_path):
    first = LocalCA(tmp_path / "ca").load_or_create()
    second = LocalCA(tmp_path / "ca").load_or_create()
    assert first == second
    assert first.subject == first.issuer
    assert first.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is True


def test_root_key_is_private_to_its_owner(tmp_path):
    ca = LocalCA(tmp_path / "ca")
    ca.load_or_create()
    assert stat.S_IMODE(ca.key_path.stat().st_mode) == 0o600


def test_leaf_for_a_name_verifies_against_the_root(tmp_path):
    ca = LocalCA(tmp_path / "ca")
    issued = ca.issue_now("track.brand.test")
    _verify(ca.load_or_create(), issued.chain_pem, x509.DNSName("track.brand.test"))


def test_leaf_for_an_ip_address_verifies_against_the_root(tmp_path):
    ca = LocalCA(tmp_path / "ca")
    issued = ca.issue_now("127.0.0.1")
    _verify(ca.load_or_create(), issued.chain_pem, x509.IPAddress(ip_address("127.0.0.1")))


def test_leaf_lasts_ninety_days_by_default(tmp_path):
    issued = LocalCA(tmp_path / "ca").issue_now("track.brand.test")
    leaf = x509.load_pem_x509_certificate(issued.chain_pem.encode())
    lifetime = leaf.not_valid_after_utc - datetime.now(UTC)
    assert timedelta(days=89) < lifetime <= timedelta(days=90)


def test_each_leaf_has_its_own_key_and_serial(tmp_path):
    ca = LocalCA(tmp_path / "ca")
    a, b = ca.issue_now("a.test"), ca.issue_now("a.test")
    assert a.key_pem != b.key_pem
    serial = [x509.load_pem_x509_certificate(i.chain_pem.encode()).serial_number for i in (a, b)]
    assert serial[0] != serial[1]
