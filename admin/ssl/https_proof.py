"""Proof that a domain terminates TLS with its new certificate, before it is called ``active``.

Issue 4: "after issuance the server makes a real HTTPS request to the domain (through the
configured resolver...) and only then reports ``active``". :class:`HttpsProof` resolves the
name with the verification resolver (:func:`admin.dns.make_resolver`), opens TLS to each
address with the name as SNI, and requires both

- the certificate presented to be the one just issued (the leaf's exact DER), and
- ``GET /.well-known/tracking-edge/verify`` to answer this edge's proof value for the name.

Trust is pinned to the issued leaf rather than to CA roots: the question is "does this name
reach us and serve our certificate", which a chain check alone would not answer. When TLS is
terminated in front (``EDGE_TLS=external``) there is no certificate of ours: the one served must
then verify for the name against the system's roots, and the proof value shows the terminator
forwards to this edge.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import Callable

import dns.asyncresolver
import dns.exception
import dns.resolver
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from admin.domains.reachability import AddressPolicy
from edge.serving.server import PROOF_PATH


class ProofFailed(Exception):
    """The HTTPS request did not prove the domain; ``reason`` says why, for ``GET .../ssl``."""

    def __init__(self, reason: str, *, timed_out: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        #: Only cut off by the deadline: says less than an earlier attempt's answer did.
        self.timed_out = timed_out


class HttpsProof:
    #: How long to keep trying: other workers pick a new certificate up within a poll interval.
    timeout = 10.0
    #: Pause between attempts within the timeout.
    interval = 0.1
    #: Longest answer read (head and body): the proof's is a few hundred bytes; a server
    #: streaming more is not this edge, and must not fill memory until the timeout.
    max_response = 16384

    def __init__(
        self,
        resolver: dns.asyncresolver.Resolver,
        expected_proof: Callable[[str], str],
        *,
        port: int = 443,
        timeout: float | None = None,
        policy: AddressPolicy | None = None,
        trust: ssl.SSLContext | None = None,
    ) -> None:
        self.resolver = resolver
        self.expected_proof = expected_proof
        self.port = port
        #: The reachability check's SSRF guard: the customer's DNS picks the address.
        self.policy = policy or AddressPolicy()
        #: What a certificate served by a TLS terminator in front must verify against.
        self.trust = trust or ssl.create_default_context()
        if timeout is not None:
            self.timeout = timeout

    async def prove(self, domain: str, chain_pem: str | None) -> None:
        """Return when ``domain`` serves ``chain_pem``'s leaf and the proof; else raise.

        With ``chain_pem=None`` (TLS terminated in front, ``EDGE_TLS=external``) the
        certificate is not ours to pin: it must instead verify for the name against
        ``trust`` (the system's roots by default).
        """
        leaf = None
        if chain_pem is not None:
            leaf = x509.load_pem_x509_certificate(chain_pem.encode()).public_bytes(
                serialization.Encoding.DER
            )
        deadline = time.monotonic() + self.timeout
        failure: ProofFailed | None = None
        while True:
            try:
                await self._attempt(domain, leaf, deadline)
                return
            except ProofFailed as exc:
                # The last attempt is often cut short by the deadline: an earlier attempt
                # that got an answer tells the customer more.
                if failure is None or not exc.timed_out:
                    failure = exc
                if time.monotonic() + self.interval >= deadline:
                    raise failure from None
            await asyncio.sleep(self.interval)

    async def _attempt(self, domain: str, leaf: bytes | None, deadline: float) -> None:
        addresses = await self._resolve(domain, deadline)
        problems = []
        timeouts = 0
        for address in addresses:
            refusal = self.policy.refusal(address)
            if refusal is not None:
                problems.append(refusal)
                continue
            try:
                await asyncio.wait_for(
                    self._fetch(address, domain, leaf), max(0.1, deadline - time.monotonic())
                )
                return
            except ProofFailed as exc:
                problems.append(exc.reason)
            except (TimeoutError, OSError, ssl.SSLError) as exc:
                timeouts += isinstance(exc, TimeoutError)
                problems.append(
                    f"HTTPS to {address}:{self.port} failed: {str(exc) or type(exc).__name__}"
                )
        raise ProofFailed("; ".join(problems), timed_out=timeouts == len(problems) > 0)

    async def _resolve(self, domain: str, deadline: float) -> list[str]:
        addresses: list[str] = []
        for rdtype in ("A", "AAAA"):
            lifetime = max(0.1, deadline - time.monotonic())
            try:
                answer = await self.resolver.resolve(domain, rdtype, lifetime=lifetime)
            except (dns.resolver.NoAnswer, dns.resolver.NXDOMAIN):
                continue
            except dns.exception.DNSException as exc:
                raise ProofFailed(f"cannot resolve {domain}: {exc}") from None
            addresses.extend(r.to_text() for r in answer)
        if not addresses:
            raise ProofFailed(f"{domain} has no address records")
        return addresses

    async def _fetch(self, address: str, domain: str, leaf: bytes | None) -> None:
        if leaf is None:
            ctx = self.trust
        else:
            ctx = ssl.create_default_context()
            # Pinned to the leaf below instead of a chain check: see the module docstring.
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        # Explicit TLS timeouts: asyncio's defaults (60 s handshake, 30 s shutdown) outlast
        # the proof's own deadline.
        reader, writer = await asyncio.open_connection(
            address,
            self.port,
            ssl=ctx,
            server_hostname=domain,
            ssl_handshake_timeout=self.timeout,
            ssl_shutdown_timeout=1.0,
        )
        try:
            served = writer.get_extra_info("ssl_object").getpeercert(binary_form=True)
            if leaf is not None and served != leaf:
                raise ProofFailed(f"{domain} serves a different certificate over HTTPS")
            writer.write(
                f"GET {PROOF_PATH} HTTP/1.1\r\nHost: {domain}\r\nConnection: close\r\n\r\n".encode()
            )
            await writer.drain()
            response = await self._read_capped(reader, domain)
        finally:
            writer.close()
        head, _, body = response.partition(b"\r\n\r\n")
        status = head.split(b" ", 2)[1:2]
        if status != [b"200"]:
            raise ProofFailed(f"https://{domain}{PROOF_PATH} answered {head[:40]!r}")
        if body.strip() != self.expected_proof(domain).encode():
            raise ProofFailed(f"https://{domain} is answered by another server")

    async def _read_capped(self, reader: asyncio.StreamReader, domain: str) -> bytes:
        """The answer up to the end of the connection (``Connection: close``), refusing one
        over :attr:`max_response`; the caller's timeout bounds a trickle."""
        chunks: list[bytes] = []
        size = 0
        while chunk := await reader.read(4096):
            size += len(chunk)
            if size > self.max_response:
                raise ProofFailed(
                    f"https://{domain}{PROOF_PATH} answered more than {self.max_response} bytes"
                )
            chunks.append(chunk)
        return b"".join(chunks)
