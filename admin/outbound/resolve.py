"""Names to addresses, once, through the configured resolvers, by the project's one host rule.

``EDGE_DNS_NAMESERVERS`` (``host`` or ``host:port``, ``[v6]:port``) replaces the system
resolver entirely: tests point it at a DNS server on a loopback port, and operators at a
private resolver. :func:`make_resolver` is the one place that builds a resolver (the CNAME
check uses it too), and :class:`AddressResolver` the one place that turns the host of an
outbound request into addresses:

- the host is read by :func:`edge.hosts.normalise_host` (IDNA 2008 with UTS #46), so the name
  looked up is the one the request names: ``ß.example`` is ``xn--zca.example``, never the
  IDNA 2003 ``ss.example`` that Python's own codec (and so ``getaddrinfo`` under uvloop) makes;
- a host that ends in a number is an IPv4 address in any of the forms URL parsers accept
  (WHATWG URL §3.5: ``127.1``, ``0x7f.1``, ``2130706433``), never a name to look up;
- ``localhost`` and ``*.localhost`` are loopback without asking DNS (RFC 6761 §6.3);
- anything else is an A and an AAAA query, with no cache: each request resolves afresh and
  connects to what it resolved, so a record with TTL 0 cannot change between check and use.

``/etc/hosts`` is not read: the resolver is DNS only.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
from collections.abc import Sequence

import dns.asyncresolver
import dns.exception
import dns.name
import dns.nameserver
import dns.rdatatype
import dns.resolver

from edge.hosts import normalise_host

LOOPBACK_ADDRESSES = ("127.0.0.1", "::1")

#: WHATWG URL "ends in a number": the last label is decimal digits or 0x-hex.
_NUMERIC_LABEL = re.compile(r"[0-9]+|0x[0-9a-f]*")


def parse_nameserver(spec: str) -> tuple[str, int]:
    """``"127.0.0.1:5353"`` -> ``("127.0.0.1", 5353)``; port 53 when none is given.

    IPv6 addresses take a port only in brackets (``[::1]:5353``); a bare ``::1`` is port 53.
    Only IP addresses are accepted: resolving a resolver's name would need a resolver.
    """
    spec = spec.strip()
    host, port = spec, "53"
    if spec.startswith("["):
        host, sep, rest = spec[1:].partition("]")
        if not sep or (rest and not rest.startswith(":")):
            raise ValueError(f"bad DNS nameserver {spec!r}: expected [address]:port")
        port = rest[1:] or "53"
    elif spec.count(":") == 1:
        host, _, port = spec.partition(":")
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        raise ValueError(f"bad DNS nameserver {spec!r}: not an IP address") from None
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"bad DNS nameserver {spec!r}: bad port {port!r}")
    return str(address), int(port)


def make_resolver(nameservers: Sequence[str], timeout: float) -> dns.asyncresolver.Resolver:
    """An async resolver using ``nameservers`` (the system's when empty), no cache.

    ``lifetime`` bounds one query including retries; callers pass a smaller one per query
    to keep a whole check within its deadline.
    """
    if nameservers:
        resolver = dns.asyncresolver.Resolver(configure=False)
        resolver.nameservers = [
            dns.nameserver.Do53Nameserver(*parse_nameserver(spec)) for spec in nameservers
        ]
    else:
        resolver = dns.asyncresolver.Resolver(configure=True)
    resolver.lifetime = timeout
    # A SERVFAIL is the resolver's considered answer; retrying it until the deadline only
    # turns "the resolver failed" into a less precise "timed out".
    resolver.retry_servfail = False
    resolver.cache = None
    return resolver


class DNSLookupError(Exception):
    """A lookup ended without records or a definite "no such name".

    ``reason`` is the customer-facing sentence; ``temporary`` when it says nothing about the
    records (timeout, resolver failure), so that a re-check does not withdraw anything on it.
    """

    def __init__(self, reason: str, *, temporary: bool = True) -> None:
        super().__init__(reason)
        self.reason = reason
        self.temporary = temporary


def lookup_failure(exc: dns.exception.DNSException, name: str, timeout: float) -> DNSLookupError:
    """Turn a dnspython failure other than NXDOMAIN/NoAnswer into a sentence."""
    if isinstance(exc, dns.exception.Timeout):
        return DNSLookupError(f"DNS resolver timed out after {float(timeout)} s")
    if isinstance(exc, dns.resolver.NoNameservers):
        rcodes = sorted({err[3] for err in exc.kwargs.get("errors", ()) if isinstance(err[3], str)})
        if rcodes:
            return DNSLookupError(f"DNS resolver answered {'/'.join(rcodes)} for {name}")
        return DNSLookupError(f"no DNS server answered for {name}")
    if isinstance(exc, dns.resolver.YXDOMAIN):
        return DNSLookupError(
            f"DNS name too long after CNAME substitution: {name}", temporary=False
        )
    return DNSLookupError(f"DNS lookup of {name} failed: {exc.__class__.__name__}")


def canonical_host(raw: str) -> str:
    """``raw`` by the one host rule: an A-label name or an address in its canonical text.

    Raises :class:`DNSLookupError` (not temporary) for something that is neither.
    """
    host = normalise_host(raw)
    if host is None:
        raise DNSLookupError(f"not a valid host name: {raw!r}", temporary=False)
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        pass
    if _NUMERIC_LABEL.fullmatch(host.rpartition(".")[2]):
        try:
            # inet_aton reads the same forms as the WHATWG IPv4 parser: 1-4 parts, each
            # decimal, 0x-hex or 0-octal, the last filling the remaining bytes.
            return socket.inet_ntoa(socket.inet_aton(host))
        except OSError:
            raise DNSLookupError(f"not a valid host name: {raw!r}", temporary=False) from None
    return host


def fixed_addresses(host: str) -> tuple[str, ...] | None:
    """The addresses of a canonical host known without DNS (an address, ``localhost``), or
    ``None`` when it is a name to look up."""
    try:
        return (str(ipaddress.ip_address(host)),)
    except ValueError:
        pass
    if host == "localhost" or host.endswith(".localhost"):
        return LOOPBACK_ADDRESSES
    return None


class AddressResolver:
    """Resolves the host of an outbound request through the configured resolvers."""

    def __init__(self, nameservers: Sequence[str] = (), timeout: float = 3.0) -> None:
        if timeout <= 0:
            raise ValueError("DNS timeout must be positive")
        for spec in nameservers:
            parse_nameserver(spec)  # fail at startup, not at the first request
        self.nameservers = tuple(nameservers)
        self.timeout = timeout
        self._resolver: dns.asyncresolver.Resolver | None = None

    @property
    def resolver(self) -> dns.asyncresolver.Resolver:
        # Built on first use: reading /etc/resolv.conf should not be able to fail startup.
        if self._resolver is None:
            self._resolver = make_resolver(self.nameservers, self.timeout)
        return self._resolver

    async def resolve(self, host: str, *, timeout: float | None = None) -> tuple[str, ...]:
        """A then AAAA addresses of ``host`` (canonical, see :func:`canonical_host`),
        following CNAMEs, within ``timeout`` seconds (the resolver's own by default).

        Raises :class:`DNSLookupError`: ``no such name``, no addresses, resolver trouble.
        """
        fixed = fixed_addresses(host)
        if fixed is not None:
            return fixed
        lifetime = self.timeout if timeout is None else max(timeout, 0.001)
        try:
            name = dns.name.from_text(host)
        except dns.exception.DNSException:  # an empty or over-long label
            raise DNSLookupError(f"not a valid host name: {host!r}", temporary=False) from None
        queries = [
            self.resolver.resolve(
                name, rdtype, raise_on_no_answer=False, search=False, lifetime=lifetime
            )
            for rdtype in (dns.rdatatype.A, dns.rdatatype.AAAA)
        ]
        results = await asyncio.gather(*queries, return_exceptions=True)
        addresses: list[str] = []
        for result in results:
            if isinstance(result, dns.resolver.Answer):
                addresses.extend(rdata.address for rdata in result.rrset or ())
        if addresses:
            return tuple(addresses)
        for result in results:
            if isinstance(result, dns.resolver.NXDOMAIN):
                raise DNSLookupError(f"no such name: {host}", temporary=False)
        for result in results:
            if isinstance(result, dns.exception.DNSException):
                raise lookup_failure(result, host, lifetime)
            if isinstance(result, BaseException):
                raise result
        raise DNSLookupError(f"no address (A or AAAA record) for {host}", temporary=False)
