"""Proof that a domain terminates TLS with its new certificate, before it is called ``active``.

Issue 4: "after issuance the server makes a real HTTPS request to the domain (through the
configured resolver...) and only then reports ``active``". :class:`HttpsProof` resolves the
name once through :mod:`admin.outbound` (the configured resolvers, the verification's address
policy), opens TLS to each allowed address with the name as SNI, and requires both

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

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from admin.outbound.client import Destination, Outbound, error_text
from admin.outbound.resolve import DNSLookupError
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
    #: Longest body read: the proof's is a few dozen bytes; a server
    #: streaming more is not this edge, and must not fill memory until the timeout.
    max_response = 16384

    def __init__(
        self,
        outbound: Outbound,
        expected_proof: Callable[[str], str],
        *,
        port: int = 443,
        timeout: float | None = None,
        trust: ssl.SSLContext | None = None,
    ) -> None:
        #: Resolution and the reachability check's SSRF guard: the customer's DNS picks the
        #: address, so only an allowed one is connected to, and only the one resolved.
        self.outbound = outbound
        self.expected_proof = expected_proof
        self.port = port
        #: What a certificate served by a TLS terminator in front must verify against.
        self.trust = trust or ssl.create_default_context()
        #: For a pinned leaf: no chain or name check here, the leaf is compared instead.
        self.pinned = ssl.create_default_context()
        self.pinned.check_hostname = False
        self.pinned.verify_mode = ssl.CERT_NONE
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
        try:
            url = httpx.URL(scheme="https", host=domain, port=self.port, path=PROOF_PATH)
            destination = await self.outbound.destination(
                url, timeout=max(0.1, deadline - time.monotonic())
            )
        except httpx.InvalidURL:
            raise ProofFailed(f"not a valid host name: {domain!r}") from None
        except DNSLookupError as exc:
            raise ProofFailed(exc.reason) from None
        problems = list(destination.refusals)
        timeouts = 0
        async with self.outbound.client(
            verify=self.trust if leaf is None else self.pinned
        ) as client:
            for address in destination.addresses:
                remaining = max(0.1, deadline - time.monotonic())
                try:
                    async with asyncio.timeout(remaining):
                        await self._fetch(client, destination, address, leaf, remaining)
                    return
                except ProofFailed as exc:
                    problems.append(exc.reason)
                except (TimeoutError, httpx.HTTPError) as exc:
                    timeouts += isinstance(exc, TimeoutError | httpx.TimeoutException)
                    where = f"[{address}]" if ":" in address else address
                    problems.append(f"HTTPS to {where}:{self.port} failed: {error_text(exc)}")
        raise ProofFailed("; ".join(problems), timed_out=timeouts == len(problems) > 0)

    async def _fetch(
        self,
        client: httpx.AsyncClient,
        destination: Destination,
        address: str,
        leaf: bytes | None,
        timeout: float,
    ) -> None:
        domain = destination.host
        # httpx's timeout bounds each step, the TLS handshake too (asyncio's default for it,
        # 60 s, would outlast the proof's deadline).
        request = destination.request(client, "GET", address, timeout=timeout)
        response = await client.send(request, stream=True)
        try:
            if leaf is not None:
                tls = response.extensions["network_stream"].get_extra_info("ssl_object")
                if tls.getpeercert(binary_form=True) != leaf:
                    raise ProofFailed(f"{domain} serves a different certificate over HTTPS")
            body = await self._read_capped(response, domain)
        finally:
            await response.aclose()
        if response.status_code != 200:
            raise ProofFailed(f"https://{domain}{PROOF_PATH} answered HTTP {response.status_code}")
        if body.strip() != self.expected_proof(domain).encode():
            raise ProofFailed(f"https://{domain} is answered by another server")

    async def _read_capped(self, response: httpx.Response, domain: str) -> bytes:
        """The body, refusing one over :attr:`max_response`; the caller's timeout bounds a
        trickle."""
        chunks: list[bytes] = []
        size = 0
        async for chunk in response.aiter_raw():
            size += len(chunk)
            if size > self.max_response:
                raise ProofFailed(
                    f"https://{domain}{PROOF_PATH} answered more than {self.max_response} bytes"
                )
            chunks.append(chunk)
        return b"".join(chunks)
