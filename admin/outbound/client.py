"""HTTP to the address that was checked, and to no other.

:class:`Outbound` is how the reachability check, the HTTPS proof and webhook delivery reach a
URL whose host a customer controls::

    destination = await outbound.destination("https://hooks.example/in")  # resolved once, judged
    async with outbound.client(timeout=10.0) as client:
        for address in destination.addresses:  # the allowed ones only
            response = await client.send(destination.request(client, "POST", address, ...))

The request's URL names the address, so httpx never resolves a name; the ``Host`` header and
TLS (SNI, and the certificate verified for the name, through httpx's ``sni_hostname`` request
extension) name the host. :class:`PinnedTransport`, under every client made here, refuses a
request whose URL names a host rather than an address, or an address the policy refuses: a
redirect, or code that skipped :meth:`Outbound.destination`, cannot connect anywhere unchecked.
Environment proxies are ignored (a proxy would resolve the name itself).
"""

from __future__ import annotations

import ipaddress
import ssl
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import httpx

from admin.outbound.policy import AddressPolicy
from admin.outbound.resolve import AddressResolver, DNSLookupError, canonical_host, fixed_addresses

if TYPE_CHECKING:
    from edge.config import Settings

#: Connections are pooled by address, but a TLS connection is verified for one name: a pooled
#: one must never carry another name's request, so nothing is kept alive.
NO_KEEPALIVE = httpx.Limits(max_keepalive_connections=0)


class AddressRefused(httpx.TransportError):
    """A request reached the transport without a checked address: never connected."""


def error_text(exc: BaseException) -> str:
    """What went wrong, in words: httpx often wraps a TLS or socket error in an exception
    with no message, so the first message down the chain of causes is taken."""
    cause: BaseException | None = exc
    while cause is not None:
        if str(cause):
            return str(cause)
        cause = cause.__cause__ or cause.__context__
    return type(exc).__name__


@dataclass(frozen=True)
class Destination:
    """A URL whose host was resolved once and judged."""

    url: httpx.URL
    #: The host by the one host rule: an A-label name or an address.
    host: str
    #: Addresses the policy allows, in the resolver's order (A before AAAA).
    addresses: tuple[str, ...]
    #: Why each other address is refused.
    refusals: tuple[str, ...] = field(default=())

    @property
    def refusal(self) -> str | None:
        """Why the destination cannot be reached at all (no address allowed), else ``None``."""
        return None if self.addresses else self.refusals[0]

    @property
    def host_header(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.url.port is None else f"{host}:{self.url.port}"

    def request(
        self,
        client: httpx.AsyncClient,
        method: str,
        address: str,
        *,
        headers: Mapping[str, str] | None = None,
        **kwargs: Any,
    ) -> httpx.Request:
        """A request to ``address`` (one of :attr:`addresses`) saying it is for :attr:`host`."""
        if address not in self.addresses:
            raise ValueError(f"{address} is not an allowed address of {self.host}")
        extensions = {}
        if self.url.scheme == "https" and not _is_address(self.host):
            extensions["sni_hostname"] = self.host  # no SNI for an address (RFC 6066 §3)
        headers = {k: v for k, v in (headers or {}).items() if k.lower() != "host"}
        return client.build_request(
            method,
            self.url.copy_with(host=address),
            headers={**headers, "host": self.host_header},
            extensions=extensions,
            **kwargs,
        )


class PinnedTransport(httpx.AsyncBaseTransport):
    """Forwards to ``inner`` only requests whose URL is an address the policy allows."""

    def __init__(self, policy: AddressPolicy, inner: httpx.AsyncBaseTransport) -> None:
        self.policy = policy
        self.inner = inner

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        host = request.url.host
        if not _is_address(host):
            raise AddressRefused(f"refusing to connect to {host}: not a checked address")
        refusal = self.policy.refusal(host)
        if refusal is not None:
            raise AddressRefused(refusal)
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


class Outbound:
    """Outbound HTTP under one address policy, resolving through one resolver.

    ``transport`` replaces httpx's own under the :class:`PinnedTransport` (tests watch
    connections with it).
    """

    def __init__(
        self,
        resolver: AddressResolver,
        policy: AddressPolicy,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.resolver = resolver
        self.policy = policy
        self._transport = transport

    @classmethod
    def for_verification(cls, settings: Settings) -> Outbound:
        """The reachability check's and HTTPS proof's: ``EDGE_VERIFY_ALLOW_NETWORKS``."""
        networks = settings.verify_allow_networks
        return cls._configured(settings, "EDGE_VERIFY_ALLOW_NETWORKS", networks)

    @classmethod
    def for_webhooks(cls, settings: Settings) -> Outbound:
        """Webhook delivery's: ``EDGE_WEBHOOK_ALLOW_NETWORKS`` (public addresses only unset)."""
        networks = settings.webhook_allow_networks
        return cls._configured(settings, "EDGE_WEBHOOK_ALLOW_NETWORKS", networks)

    @classmethod
    def _configured(cls, settings: Settings, setting: str, networks: Sequence[str]) -> Outbound:
        """Resolvers from ``EDGE_DNS_NAMESERVERS``; a bad value is a ``ConfigError`` naming it."""
        from edge.config import ConfigError

        policy = AddressPolicy.from_setting(setting, networks)
        try:
            resolver = AddressResolver(settings.dns_nameservers, settings.dns_timeout)
        except ValueError as exc:
            name = "EDGE_DNS_TIMEOUT" if settings.dns_timeout <= 0 else "EDGE_DNS_NAMESERVERS"
            raise ConfigError(f"{name}: {exc}") from None
        return cls(resolver, policy)

    def known_refusal(self, url: str) -> str | None:
        """Why ``url`` is refused, when that is known without DNS (its host is an address or
        ``localhost``); ``None`` otherwise. For refusing a URL when it is registered."""
        try:
            host = canonical_host(httpx.URL(url).host)
        except (httpx.InvalidURL, ValueError) as exc:  # UnicodeError: a lone surrogate
            return f"not a valid URL: {exc}"
        except DNSLookupError as exc:
            return exc.reason
        addresses = fixed_addresses(host) or ()
        refusals = [r for r in map(self.policy.refusal, addresses) if r is not None]
        return refusals[0] if refusals and len(refusals) == len(addresses) else None

    async def destination(
        self, url: str | httpx.URL, *, timeout: float | None = None
    ) -> Destination:
        """Resolve ``url``'s host once and judge each address; raises :class:`DNSLookupError`
        when there is no address (``temporary`` as the resolver failure says)."""
        try:
            url = httpx.URL(url)
        except (httpx.InvalidURL, ValueError) as exc:
            raise DNSLookupError(f"not a valid URL: {exc}", temporary=False) from None
        host = canonical_host(url.host)
        addresses = await self.resolver.resolve(host, timeout=timeout)
        allowed = tuple(a for a in addresses if self.policy.refusal(a) is None)
        refusals = tuple(r for r in map(self.policy.refusal, addresses) if r is not None)
        return Destination(url, host, allowed, refusals)

    def client(
        self, *, verify: ssl.SSLContext | bool = True, timeout: float | None = None
    ) -> httpx.AsyncClient:
        """A client whose every connection goes through the :class:`PinnedTransport`."""
        inner = self._transport or httpx.AsyncHTTPTransport(
            verify=verify, trust_env=False, limits=NO_KEEPALIVE
        )
        return httpx.AsyncClient(
            transport=PinnedTransport(self.policy, inner),
            trust_env=False,
            follow_redirects=False,
            timeout=timeout,
        )


def _is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True
