"""Reachability: does ``http://<domain>:<EDGE_VERIFY_PORT>/`` actually reach this edge?

A correct CNAME is not enough (a proxy or CDN in between may swallow the traffic), so, as
SparkPost does, verification then fetches a path the edge answers on every host with a
per-domain value, :meth:`edge.tokens.TokenCodec.domain_proof`, and compares it::

    GET /.well-known/tracking-edge/verify HTTP/1.1
    Host: track.brand.com

A failure is SparkPost's error 1404, "Unable to reach http://track.brand.com:80. ...", whose
URL is :attr:`ReachCheck.url`.

Server-side request forgery. The customer controls the DNS of the name being fetched, so they
choose the address this server connects to. The request goes through :mod:`admin.outbound`:
the name is resolved once through the configured resolvers and the connection goes to an
address that was checked, never to a name resolved again by the HTTP client. Only globally
routable addresses and the networks in ``EDGE_VERIFY_ALLOW_NETWORKS`` (loopback by default,
where the edge itself is in tests and single-host setups; ``none``, or e.g. ``10.1.0.0/16``
for an edge behind a private load balancer) are connected to. The request itself is fixed (a
GET of one path on one port, no redirects followed, the body compared and never shown back),
so the most a hostile customer learns is whether an allowed address answers on the port.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import httpx

from admin.outbound.client import Destination, Outbound
from admin.outbound.policy import LOOPBACK_NETWORKS, AddressPolicy
from admin.outbound.resolve import AddressResolver, DNSLookupError
from edge.hosts import normalise_host
from edge.serving.server import PROOF_PATH
from edge.tokens.codec import TokenCodec

if TYPE_CHECKING:
    from edge.config import Settings


@dataclass(frozen=True)
class ReachCheck:
    """The outcome of one reachability check; ``reason`` is shown to the customer as it is."""

    ok: bool
    #: The URL in SparkPost's 1404 description, e.g. ``http://track.brand.com:80``.
    url: str
    reason: str
    #: True when the failure says nothing about the set-up (timeout, connection error,
    #: resolver failure): re-verifying a valid domain should not withdraw it on such an
    #: outcome alone. A wrong answer, an unknown name or a refused address is definitive.
    temporary: bool = False


class ReachabilityChecker:
    """Fetches the proof path of a domain over http on ``port`` and compares the value."""

    #: Seconds for the HTTP part (connect + answer) of one check, across all addresses tried.
    http_timeout = 3.0
    #: Most addresses tried; a name with many addresses must not stretch a check.
    max_addresses = 4
    #: Longest body read: the proof is 32 characters, anything much longer is not it.
    max_body = 1024

    def __init__(
        self,
        codec: TokenCodec,
        *,
        port: int = 80,
        nameservers: Sequence[str] = (),
        dns_timeout: float = 3.0,
        policy: AddressPolicy | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        outbound: Outbound | None = None,
    ) -> None:
        self.codec = codec
        self.port = port
        #: Resolution, the address policy and the pinned connections; built from the
        #: other arguments unless given (``transport``: tests watch connections with it).
        self.outbound = outbound or Outbound(
            AddressResolver(nameservers, dns_timeout),
            policy or AddressPolicy(LOOPBACK_NETWORKS),
            transport=transport,
        )

    @classmethod
    def from_settings(cls, settings: Settings, codec: TokenCodec) -> ReachabilityChecker:
        from edge.config import ConfigError

        if not 0 < settings.verify_port < 65536:
            raise ConfigError(f"EDGE_VERIFY_PORT must be a port number, got {settings.verify_port}")
        return cls(codec, port=settings.verify_port, outbound=Outbound.for_verification(settings))

    def url(self, domain: str) -> str:
        return f"http://{domain}:{self.port}"

    async def check(self, domain: str) -> ReachCheck:
        """Whether ``domain`` reaches this edge; never raises for network trouble."""
        domain = normalise_host(domain) or domain
        url = self.url(domain)
        try:
            destination = await self.outbound.destination(
                httpx.URL(scheme="http", host=domain, port=self.port, path=PROOF_PATH)
            )
        except DNSLookupError as exc:
            return ReachCheck(False, url, exc.reason, exc.temporary)
        except httpx.InvalidURL:
            return ReachCheck(False, url, f"not a valid host name: {domain!r}")
        if destination.refusal is not None:
            return ReachCheck(False, url, destination.refusal)
        failures: list[_Unreachable] = []
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.http_timeout
        async with self.outbound.client() as client:
            for address in destination.addresses[: self.max_addresses]:
                remaining = deadline - loop.time()
                if remaining <= 0:
                    break
                failure = await self._fetch(client, destination, address, remaining)
                if failure is None:
                    return ReachCheck(True, url, f"{url} reaches this edge")
                failures.append(failure)
        if not failures:
            failures.append(self._timed_out(destination.addresses[0]))
        temporary = all(failure.temporary for failure in failures)
        return ReachCheck(False, url, failures[0].reason, temporary)

    def _timed_out(self, address: str) -> _Unreachable:
        where = _hostport(address, self.port)
        return _Unreachable(f"no answer from {where} within {float(self.http_timeout)} s", True)

    async def _fetch(
        self,
        client: httpx.AsyncClient,
        destination: Destination,
        address: str,
        timeout: float,
    ) -> _Unreachable | None:
        """``None`` when ``address`` answers with the proof for ``domain``, else why not.

        httpx's timeout bounds each network operation; the outer one bounds a server that
        trickles its answer a byte at a time, with a little grace so that the inner one,
        which closes the connection cleanly, normally fires first.
        """
        where = _hostport(address, self.port)
        domain = destination.host
        request = destination.request(
            client, "GET", address, headers={"accept-encoding": "identity"}, timeout=timeout
        )
        try:
            async with asyncio.timeout(timeout + 0.25):
                response = await client.send(request, stream=True)
                try:
                    body = b""
                    async for chunk in response.aiter_raw():
                        body += chunk
                        if len(body) > self.max_body:
                            break
                finally:
                    await response.aclose()
        except (httpx.TimeoutException, TimeoutError):
            return self._timed_out(address)
        except httpx.ConnectError:
            return _Unreachable(f"could not connect to {where}", True)
        except httpx.HTTPError as exc:
            # A read or write cut off is network trouble; an answer that is not HTTP is not.
            temporary = isinstance(exc, httpx.NetworkError)
            return _Unreachable(f"{where} did not answer HTTP: {exc.__class__.__name__}", temporary)
        if response.status_code != 200:
            return _Unreachable(f"{where} answered HTTP {response.status_code} to {PROOF_PATH}")
        if body.strip() != self.codec.domain_proof(domain).encode():
            return _Unreachable(f"{where} answered, but not with this edge's proof for {domain}")
        return None


class _Unreachable(Exception):
    def __init__(self, reason: str, temporary: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.temporary = temporary


def _hostport(address: str, port: int) -> str:
    return f"[{address}]:{port}" if ":" in address else f"{address}:{port}"
