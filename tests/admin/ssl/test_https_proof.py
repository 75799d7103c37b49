"""The HTTPS request that must succeed before a certificate is reported ``active``."""

from __future__ import annotations

from dataclasses import replace

import pytest

from admin.domains.dns import make_resolver
from admin.domains.reachability import AddressPolicy
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
            make_resolver((dns_server.nameserver,), 1.0),
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
        proof = HttpsProof(
            make_resolver((dns_server.nameserver,), 1.0), lambda d: "proof", port=port, timeout=0.5
        )
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
