"""Reachability: does ``http://<domain>:<EDGE_VERIFY_PORT>/`` actually reach this edge?

A correct CNAME is not enough (a proxy or CDN in between may swallow the traffic), so, as
SparkPost does, verification then fetches a path the edge answers on every host with a
per-domain value, :meth:`edge.tokens.TokenCodec.domain_proof`, and compares it::

    GET /.well-known/tracking-edge/verify HTTP/1.1
    Host: track.brand.com

A failure is SparkPost's error 1404, "Unable to reach http://track.brand.com:80. ...", whose
URL is :attr:`ReachCheck.url`.

The address is resolved through the same resolver as the CNAME check
(:func:`admin.dns.make_resolver`) and the connection goes to that address, never to a name
resolved again by the HTTP client: what was checked is what is fetched (no DNS rebinding).

Server-side request forgery. The customer controls the DNS of the name being fetched, so they
choose the address this server connects to. The request itself is fixed (a GET of one path
on one port, no redirects followed, the body compared and never shown back), so the most a
hostile customer learns is whether an address answers on ``EDGE_VERIFY_PORT``. Still, by
default only globally routable addresses and loopback are connected to (:class:`AddressPolicy`):
private networks, link-local (cloud metadata at 169.254.169.254), shared/CGNAT, multicast and
reserved ranges are refused before any packet is sent. IPv6 forms that embed an IPv4 address
(mapped, 6to4, NAT64) are judged by that IPv4 address. Loopback is allowed because the edge
itself is there in tests and single-host setups, and a loopback port answering is no secret
worth guarding. ``EDGE_VERIFY_ALLOW_NETWORKS`` replaces the loopback allowance with a list of
networks (e.g. ``10.1.0.0/16`` for an edge behind a private load balancer), or ``none``.
"""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import dns.asyncresolver
import dns.exception
import dns.name
import dns.rdatatype
import dns.resolver
import httpx

from admin.domains.dns import lookup_failure, make_resolver
from edge.hosts import normalise_host
from edge.serving.server import PROOF_PATH
from edge.tokens.codec import TokenCodec

if TYPE_CHECKING:
    from edge.config import Settings

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

LOOPBACK_NETWORKS = ("127.0.0.0/8", "::1/128")


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


class AddressPolicy:
    """Which addresses the check may connect to: global ones, plus ``allowed`` networks."""

    def __init__(self, allowed: Sequence[str] = LOOPBACK_NETWORKS) -> None:
        self.allowed: tuple[IPNetwork, ...] = tuple(
            ipaddress.ip_network(net.strip(), strict=False) for net in allowed
        )

    def refusal(self, address: str) -> str | None:
        """Why ``address`` must not be connected to, or ``None`` when it may be."""
        ip = _reached(ipaddress.ip_address(address))
        if ip is not None:
            if any(ip.version == net.version and ip in net for net in self.allowed):
                return None
            if ip.is_global and not ip.is_multicast:
                return None
        return (
            f"refusing to connect to {address}: not a public address "
            "(EDGE_VERIFY_ALLOW_NETWORKS can allow its network)"
        )


#: NAT64 (RFC 6052): the last 32 bits are the IPv4 address the translator connects to.
NAT64_PREFIX = ipaddress.ip_network("64:ff9b::/96")
#: Local-use NAT64 (RFC 8215) and IPv4-compatible (deprecated, RFC 4291 §2.5.5.1) addresses:
#: their IPv4 destination depends on local set-up, so they are never judged public.
OPAQUE_PREFIXES = (ipaddress.ip_network("64:ff9b:1::/48"), ipaddress.ip_network("::/96"))


def _reached(ip: IPAddress) -> IPAddress | None:
    """The address a connection to ``ip`` ends up at, as far as can be told; ``None``: unknown.

    An IPv6 address that embeds an IPv4 one (``::ffff:10.0.0.1``, ``64:ff9b::a00:1``,
    ``2002:a00:1::``) reaches that IPv4 address, so that is the one judged: otherwise they
    would smuggle private IPv4 destinations past a check that calls them global.
    """
    if isinstance(ip, ipaddress.IPv4Address):
        return ip
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip in NAT64_PREFIX:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip != ipaddress.IPv6Address("::1") and any(ip in net for net in OPAQUE_PREFIXES):
        return None
    return ip


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
    ) -> None:
        self.codec = codec
        self.port = port
        self.nameservers = tuple(nameservers)
        self.dns_timeout = dns_timeout
        self.policy = policy or AddressPolicy()
        #: httpx transport; ``None`` for httpx's own (tests pass one that watches connections).
        self._transport = transport
        self._resolver: dns.asyncresolver.Resolver | None = None

    @classmethod
    def from_settings(cls, settings: Settings, codec: TokenCodec) -> ReachabilityChecker:
        from edge.config import ConfigError

        if not 0 < settings.verify_port < 65536:
            raise ConfigError(f"EDGE_VERIFY_PORT must be a port number, got {settings.verify_port}")
        try:
            policy = AddressPolicy(settings.verify_allow_networks)
        except ValueError as exc:
            raise ConfigError(f"EDGE_VERIFY_ALLOW_NETWORKS: {exc}") from None
        return cls(
            codec,
            port=settings.verify_port,
            nameservers=settings.dns_nameservers,
            dns_timeout=settings.dns_timeout,
            policy=policy,
        )

    @property
    def resolver(self) -> dns.asyncresolver.Resolver:
        if self._resolver is None:
            self._resolver = make_resolver(self.nameservers, self.dns_timeout)
        return self._resolver

    def url(self, domain: str) -> str:
        return f"http://{domain}:{self.port}"

    async def check(self, domain: str) -> ReachCheck:
        """Whether ``domain`` reaches this edge; never raises for network trouble."""
        domain = normalise_host(domain) or domain
        url = self.url(domain)
        try:
            addresses = await self._addresses(domain)
        except _Unreachable as exc:
            return ReachCheck(False, url, exc.reason, exc.temporary)
        allowed = [a for a in addresses if self.policy.refusal(a) is None]
        if not allowed:
            return ReachCheck(False, url, self.policy.refusal(addresses[0]) or "")
        failures: list[_Unreachable] = []
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.http_timeout
        async with httpx.AsyncClient(
            transport=self._transport,
            trust_env=False,  # no proxy from the environment: connect to what was checked
            follow_redirects=False,
        ) as client:
            for address in allowed[: self.max_addresses]:
                remaining = deadline - loop.time()
                if remaining <= 0:
                    break
                failure = await self._fetch(client, domain, address, remaining)
                if failure is None:
                    return ReachCheck(True, url, f"{url} reaches this edge")
                failures.append(failure)
        if not failures:
            failures.append(self._timed_out(allowed[0]))
        temporary = all(failure.temporary for failure in failures)
        return ReachCheck(False, url, failures[0].reason, temporary)

    async def _addresses(self, domain: str) -> list[str]:
        """A then AAAA addresses of ``domain``, following CNAMEs, via the configured resolver."""
        name = dns.name.from_text(domain)
        queries = [
            self.resolver.resolve(name, rdtype, raise_on_no_answer=False, search=False)
            for rdtype in (dns.rdatatype.A, dns.rdatatype.AAAA)
        ]
        results = await asyncio.gather(*queries, return_exceptions=True)
        addresses: list[str] = []
        for result in results:
            if isinstance(result, dns.resolver.Answer):
                addresses.extend(rdata.address for rdata in result.rrset or ())
        if addresses:
            return addresses
        for result in results:
            if isinstance(result, dns.resolver.NXDOMAIN):
                raise _Unreachable(f"no such name: {domain}")
        for result in results:
            if isinstance(result, dns.exception.DNSException):
                failure = lookup_failure(result, domain, self.dns_timeout)
                raise _Unreachable(failure.reason, temporary=failure.temporary)
            if isinstance(result, BaseException):
                raise result
        raise _Unreachable(f"no address (A or AAAA record) for {domain}")

    def _timed_out(self, address: str) -> _Unreachable:
        where = _hostport(address, self.port)
        return _Unreachable(f"no answer from {where} within {float(self.http_timeout)} s", True)

    async def _fetch(
        self, client: httpx.AsyncClient, domain: str, address: str, timeout: float
    ) -> _Unreachable | None:
        """``None`` when ``address`` answers with the proof for ``domain``, else why not.

        httpx's timeout bounds each network operation; the outer one bounds a server that
        trickles its answer a byte at a time, with a little grace so that the inner one,
        which closes the connection cleanly, normally fires first.
        """
        where = _hostport(address, self.port)
        host = domain if self.port == 80 else f"{domain}:{self.port}"
        try:
            async with (
                asyncio.timeout(timeout + 0.25),
                client.stream(
                    "GET",
                    f"http://{where}{PROOF_PATH}",
                    headers={"host": host, "accept-encoding": "identity"},
                    timeout=timeout,
                ) as response,
            ):
                body = b""
                async for chunk in response.aiter_raw():
                    body += chunk
                    if len(body) > self.max_body:
                        break
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
