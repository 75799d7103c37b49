"""The TLS listener's certificate store: per-SNI certificates, isolation, live refresh."""

from __future__ import annotations

import asyncio
import socket
import ssl
import time
import warnings
from dataclasses import replace
from datetime import UTC, datetime

import httpx
import pytest
from cryptography.hazmat.primitives import serialization

from admin.ssl.local_ca import LocalCA
from edge.model.certificates import CertificateRecord
from tests.fixtures_https import add_domain, https_get, put_certificate, served_certificate
from tests.stores import in_store


@pytest.fixture
def ca(settings) -> LocalCA:
    return LocalCA(settings.data_dir / "local-ca")


def _put(settings, ca: LocalCA, name: str) -> str:
    issued = ca.issue_now(name)
    return put_certificate(settings, name, issued.chain_pem, issued.key_pem)


def _serial(cert) -> str:
    return format(cert.serial_number, "x")


def _put_row(settings, name: str, chain_pem: str, key_pem: str) -> None:
    """Store a row for ``name`` as given, without the provisioner's checks (a bug, a bad
    restore): serial ``ff``, issuer ``x``, valid from 1970 to 2100."""
    record = CertificateRecord(
        name, chain_pem, key_pem, "ff", "x",
        datetime.fromtimestamp(0, UTC), datetime.fromtimestamp(4102444800, UTC),
    )  # fmt: skip
    in_store(settings, lambda tx: tx.certificates.save(record, now=int(time.time())))


def test_sni_name_gets_its_own_certificate(settings, ca, make_https_server):
    a = _put(settings, ca, "a.brand.test")
    b = _put(settings, ca, "b.brand.test")
    live = make_https_server(settings)
    assert _serial(served_certificate(live.https_port, "a.brand.test")) == a
    assert _serial(served_certificate(live.https_port, "b.brand.test")) == b


def test_unknown_name_gets_the_default_domains_certificate(settings, ca, make_https_server):
    default = _put(settings, ca, settings.default_domain)
    _put(settings, ca, "a.brand.test")
    live = make_https_server(settings)
    assert _serial(served_certificate(live.https_port, "c.brand.test")) == default


def test_no_sni_gets_the_default_domains_certificate(settings, ca, make_https_server):
    default = _put(settings, ca, settings.default_domain)
    live = make_https_server(settings)
    assert _serial(served_certificate(live.https_port, None)) == default


def test_unknown_name_without_default_certificate_fails_the_handshake(
    settings, ca, make_https_server
):
    _put(settings, ca, "a.brand.test")
    live = make_https_server(settings)
    with pytest.raises(ssl.SSLError):
        served_certificate(live.https_port, "b.brand.test")


def test_certificate_not_covering_its_row_is_never_served(settings, ca, make_https_server):
    # A row for b whose certificate is a's (a bug or a bad restore) must not leak a's cert.
    _put(settings, ca, "a.brand.test")
    issued = ca.issue_now("a.brand.test")
    _put_row(settings, "b.brand.test", issued.chain_pem, issued.key_pem)
    live = make_https_server(settings)
    with pytest.raises(ssl.SSLError):
        served_certificate(live.https_port, "b.brand.test")


def test_a_row_whose_pem_does_not_parse_is_skipped_and_the_others_served(
    settings, ca, make_https_server, caplog
):
    a = _put(settings, ca, "a.brand.test")
    _put_row(settings, "b.brand.test", "not a pem", "nor this")
    live = make_https_server(settings)  # starts: refresh does not raise
    assert _serial(served_certificate(live.https_port, "a.brand.test")) == a
    with pytest.raises(ssl.SSLError):
        served_certificate(live.https_port, "b.brand.test")
    assert any(
        r.name == "edge.certs"
        and r.getMessage().startswith("certificate stored for b.brand.test does not parse")
        for r in caplog.records
    )


def test_replaced_certificate_is_served_without_restart(settings, ca, make_https_server):
    old = _put(settings, ca, "a.brand.test")
    live = make_https_server(settings)
    assert _serial(served_certificate(live.https_port, "a.brand.test")) == old
    new = _put(settings, ca, "a.brand.test")
    live.refresh_certificates()
    assert _serial(served_certificate(live.https_port, "a.brand.test")) == new


def test_new_certificate_is_picked_up_by_polling(settings, ca, make_https_server):
    live = make_https_server(replace(settings, domain_poll_interval=0.02))
    with pytest.raises(ssl.SSLError):
        served_certificate(live.https_port, "a.brand.test")
    serial = _put(settings, ca, "a.brand.test")
    live.call(live.server.certificates.wait_changed)
    assert _serial(served_certificate(live.https_port, "a.brand.test")) == serial


def test_names_are_matched_case_insensitively(settings, ca, make_https_server):
    serial = _put(settings, ca, "a.brand.test")
    live = make_https_server(settings)
    assert _serial(served_certificate(live.https_port, "A.Brand.TEST")) == serial


def test_tls_below_1_2_is_refused(settings, ca, make_https_server):
    _put(settings, ca, "a.brand.test")
    live = make_https_server(settings)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        ctx.minimum_version = ssl.TLSVersion.TLSv1
        ctx.maximum_version = ssl.TLSVersion.TLSv1_1
    ctx.set_ciphers("ALL:@SECLEVEL=0")
    with (
        socket.create_connection(("127.0.0.1", live.https_port), timeout=5) as raw,
        pytest.raises(ssl.SSLError) as failure,
    ):
        ctx.wrap_socket(raw, server_hostname="a.brand.test")
    # The client did offer TLS 1.1 (it got as far as reading the server's answer).
    assert "NO_PROTOCOLS_AVAILABLE" not in str(failure.value)
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2  # the control: 1.2 is accepted
    with (
        socket.create_connection(("127.0.0.1", live.https_port), timeout=5) as raw,
        ctx.wrap_socket(raw, server_hostname="a.brand.test") as tls,
    ):
        assert tls.version() == "TLSv1.2"


def test_alpn_offers_http_1_1_only(settings, ca, make_https_server):
    _put(settings, ca, "a.brand.test")
    live = make_https_server(settings)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.set_alpn_protocols(["h2", "http/1.1"])
    with (
        socket.create_connection(("127.0.0.1", live.https_port), timeout=5) as raw,
        ctx.wrap_socket(raw, server_hostname="a.brand.test") as tls,
    ):
        assert tls.selected_alpn_protocol() == "http/1.1"
        assert tls.version() in ("TLSv1.2", "TLSv1.3")


# -- blocked means blocked: only served domains' certificates are presented ----------------------


def _set_blocked(settings, name: str, blocked: bool) -> None:
    async def change(tx):
        (domain,) = await tx.domains.named(name)
        await tx.domains.set_compliance(domain.id, blocked=blocked, now=int(time.time()))

    in_store(settings, change)


def _root(ca: LocalCA) -> str:
    return ca.load_or_create().public_bytes(serialization.Encoding.PEM).decode()


def test_a_blocked_domains_certificate_is_not_presented(settings, ca, make_https_server):
    default = _put(settings, ca, settings.default_domain)
    own = _put(settings, ca, "a.brand.test")
    add_domain(settings, "a.brand.test")
    live = make_https_server(settings)
    assert _serial(served_certificate(live.https_port, "a.brand.test")) == own
    _set_blocked(settings, "a.brand.test", True)
    live.refresh_certificates()
    # As for a name the edge does not know: the default domain's, which a client refuses.
    assert _serial(served_certificate(live.https_port, "a.brand.test")) == default
    with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        https_get(live.https_port, "a.brand.test", _root(ca))


def test_unblocking_presents_the_kept_certificate_again(settings, ca, make_https_server):
    own = _put(settings, ca, "a.brand.test")
    add_domain(settings, "a.brand.test")
    _set_blocked(settings, "a.brand.test", True)
    live = make_https_server(settings)
    with pytest.raises(ssl.SSLError):  # no default certificate either: the handshake fails
        served_certificate(live.https_port, "a.brand.test")
    _set_blocked(settings, "a.brand.test", False)
    live.refresh_certificates()
    assert _serial(served_certificate(live.https_port, "a.brand.test")) == own
    assert https_get(live.https_port, "a.brand.test", _root(ca)).status_code == 404


def test_a_block_is_picked_up_by_polling_the_domains(settings, ca, make_https_server):
    default = _put(settings, ca, settings.default_domain)
    _put(settings, ca, "a.brand.test")
    add_domain(settings, "a.brand.test")
    live = make_https_server(replace(settings, domain_poll_interval=0.02))
    reloaded = asyncio.run_coroutine_threadsafe(live.server.certificates.wait_changed(), live.loop)
    live.call(lambda: asyncio.sleep(0))  # the waiter is in place once this has run
    # Only the domain changes, not its certificate: the poll must look at both.
    _set_blocked(settings, "a.brand.test", True)
    reloaded.result(timeout=5)
    assert _serial(served_certificate(live.https_port, "a.brand.test")) == default


def test_a_domain_whose_cname_went_away_is_not_presented(settings, ca, make_https_server):
    _put(settings, ca, "a.brand.test")
    domain_id = add_domain(settings, "a.brand.test")
    in_store(
        settings,
        lambda tx: tx.domains.mark_invalid(domain_id, "gone", checked=time.time(), now=1),
    )
    live = make_https_server(settings)
    with pytest.raises(ssl.SSLError):
        served_certificate(live.https_port, "a.brand.test")
