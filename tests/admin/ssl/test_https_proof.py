"""The HTTPS request that must succeed before a certificate is reported ``active``."""

from __future__ import annotations

import ssl
from dataclasses import replace

import httpx
import pytest

from admin.outbound.client import Outbound
from admin.outbound.policy import LOOPBACK_NETWORKS, AddressPolicy
from admin.outbound.resolve import AddressResolver
from admin.ssl.https_proof import HttpsProof, ProofFailed
from admin.ssl.local_ca import LocalCA
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


def _outbound(dns_server, policy: AddressPolicy | None = None, transport=None) -> Outbound:
    resolver = AddressResolver((dns_server.nameserver,), 1.0)
    return Outbound(resolver, policy or AddressPolicy(LOOPBACK_NETWORKS), transport=transport)


class _NoConnections(httpx.AsyncBaseTransport):
    """Records the address of any request instead of connecting: nothing leaves the host."""

    def __init__(self) -> None:
        self.hosts: list[str] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.hosts.append(request.url.host)
        raise httpx.ConnectError("not connected: a test double")


def _proof(live, dns_server, *, policy=None, proof=None, trust=None, transport=None) -> HttpsProof:
    codec = live.app.runtime.codec
    return HttpsProof(
        _outbound(dns_server, policy, transport),
        proof or codec.domain_proof,
        port=live.https_port,
        timeout=0.3,
        trust=trust,
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
    assert failure.value.reason == "no such name: nowhere.brand.test"


def test_address_outside_the_allowed_networks_is_not_connected_to(served, dns_server):
    live, chain = served
    policy = AddressPolicy(())
    with pytest.raises(ProofFailed) as failure:
        live.call(lambda: _proof(live, dns_server, policy=policy).prove(NAME, chain))
    assert failure.value.reason.startswith("refusing to connect to 127.0.0.1: not a public address")


@pytest.mark.parametrize("address", ["::ffff:0:a9fe:a9fe", "fec0::1"])
def test_ipv6_forms_of_internal_addresses_are_not_connected_to(served, dns_server, address):
    live, chain = served
    dns_server.set_aaaa(NAME, address)
    policy = AddressPolicy(["127.0.0.2/32"])  # so that the A record, 127.0.0.1, is refused too
    transport = _NoConnections()
    with pytest.raises(ProofFailed) as failure:
        live.call(
            lambda: _proof(live, dns_server, policy=policy, transport=transport).prove(NAME, chain)
        )
    assert transport.hosts == []
    assert failure.value.reason == "; ".join(
        f"refusing to connect to {a}: not a public address "
        "(EDGE_VERIFY_ALLOW_NETWORKS can allow its network)"
        for a in ("127.0.0.1", address)
    )


def test_name_is_sent_in_sni_and_verified_when_tls_is_terminated_in_front(
    served, dns_server, settings
):
    # EDGE_TLS=external: nothing to pin, the certificate must verify for the name; the
    # connection goes to the checked address, so the name travels in SNI and Host only.
    live, _ = served
    trust = ssl.create_default_context(cafile=settings.data_dir / "local-ca" / "root.pem")
    live.call(lambda: _proof(live, dns_server, trust=trust).prove(NAME, None))


def test_certificate_for_another_name_fails_when_tls_is_terminated_in_front(
    served, dns_server, settings
):
    live, _ = served
    # other.brand.test has no certificate: the edge presents the default domain's.
    issued = LocalCA(settings.data_dir / "local-ca").issue_now(settings.default_domain)
    put_certificate(settings, settings.default_domain, issued.chain_pem, issued.key_pem)
    live.refresh_certificates()
    dns_server.set_a("other.brand.test", "127.0.0.1")
    trust = ssl.create_default_context(cafile=settings.data_dir / "local-ca" / "root.pem")
    with pytest.raises(ProofFailed) as failure:
        live.call(lambda: _proof(live, dns_server, trust=trust).prove("other.brand.test", None))
    assert "certificate verify failed" in failure.value.reason
    assert failure.value.reason.startswith(f"HTTPS to 127.0.0.1:{live.https_port} failed: ")


def test_a_server_streaming_an_endless_answer_is_cut_off_at_the_cap(settings, dns_server):
    import asyncio
    import ssl
    import time

    issued = LocalCA(settings.data_dir / "local-ca").issue_now(NAME)
    (settings.data_dir / "hostile").mkdir(parents=True)
    chain = settings.data_dir / "hostile" / "chain.pem"
    key = settings.data_dir / "hostile" / "key.pem"
    chain.write_text(issued.chain_pem)
    key.write_text(issued.key_pem)
    dns_server.set_a(NAME, "127.0.0.1")
    port = free_port()

    async def scenario() -> tuple[str, float, int]:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(chain, key)
        sent = 0

        async def stream(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            nonlocal sent
            await reader.readuntil(b"\r\n\r\n")
            writer.write(b"HTTP/1.1 200 OK\r\n\r\n")
            try:
                while True:  # gigabytes, as fast as the client reads them
                    writer.write(b"x" * 65536)
                    await writer.drain()
                    sent += 65536
            except (ConnectionError, ssl.SSLError):
                pass
            finally:
                writer.close()

        server = await asyncio.start_server(stream, "127.0.0.1", port, ssl=ctx)
        proof = HttpsProof(
            _outbound(dns_server),
            lambda d: "proof",
            port=port,
            timeout=5.0,
        )
        proof.interval = 10.0  # one attempt
        started = time.monotonic()
        try:
            await proof.prove(NAME, issued.chain_pem)
            reason = "passed"
        except ProofFailed as exc:
            reason = exc.reason
        elapsed = time.monotonic() - started
        server.close()
        return reason, elapsed, sent

    reason, elapsed, sent = asyncio.run(scenario())
    assert (
        reason == f"https://{NAME}/.well-known/tracking-edge/verify answered more than 16384 bytes"
    )
    assert elapsed < 2.0  # not held until the 5 s timeout
    assert sent < 16 * 1024 * 1024


def test_an_attempt_cut_off_by_the_deadline_does_not_hide_an_earlier_answer(
    settings, dns_server, tmp_path
):
    import asyncio
    import ssl

    issued = LocalCA(settings.data_dir / "local-ca").issue_now(NAME)
    chain, key = tmp_path / "chain.pem", tmp_path / "key.pem"
    chain.write_text(issued.chain_pem)
    key.write_text(issued.key_pem)
    dns_server.set_a(NAME, "127.0.0.1")
    port = free_port()

    async def scenario() -> str:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(chain, key)
        connections = 0
        stall = asyncio.Event()

        async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            nonlocal connections
            connections += 1
            await reader.readuntil(b"\r\n\r\n")
            if connections > 1:
                await stall.wait()  # later attempts: no answer until the deadline
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nother")
            await writer.drain()
            writer.close()

        server = await asyncio.start_server(answer, "127.0.0.1", port, ssl=ctx)
        proof = HttpsProof(_outbound(dns_server), lambda d: "proof", port=port, timeout=0.5)
        proof.interval = 0.05
        try:
            await proof.prove(NAME, issued.chain_pem)
            return "passed"
        except ProofFailed as exc:
            return exc.reason
        finally:
            stall.set()
            server.close()

    assert asyncio.run(scenario()) == f"https://{NAME} is answered by another server"
