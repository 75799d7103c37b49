"""The client behind a request: its address, user agent and whether it is a prefetch.

``X-Forwarded-For`` is believed only when the peer is a configured trusted proxy
(``EDGE_TRUSTED_PROXIES``): anyone else could write any address into it. The header is read
right to left, skipping trusted proxies, and the first address that is not one is the
client (MDN, "X-Forwarded-For: Selecting an IP address"); entries left of it were written by
the client itself and prove nothing.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

# Headers browsers and link-preview fetchers send on requests made ahead of the person:
# Chromium "Sec-Purpose: prefetch" (and the older "Purpose"), Firefox "X-Moz: prefetch",
# Safari "X-Purpose: preview".
_PREFETCH_HEADERS = {b"purpose", b"sec-purpose", b"x-moz", b"x-purpose"}


class ClientResolver:
    """Reads the client's address, user agent and prefetch hint from a request."""

    def __init__(self, trusted_proxies: Iterable[str] = ()) -> None:
        self.trusted = tuple(ipaddress.ip_network(p, strict=False) for p in trusted_proxies)

    def is_trusted(self, address: str | None) -> bool:
        if not self.trusted or not address:
            return False
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in network for network in self.trusted)

    def resolve(
        self, headers: Iterable[tuple[bytes, bytes]], client: tuple[str, int] | None
    ) -> tuple[str | None, str | None, bool]:
        """``(client address, user agent, prefetch)`` for a request's headers (lower-case
        names, as in an ASGI scope) and its peer ``(host, port)``."""
        peer = client[0] if client else None
        ua = forwarded = None
        prefetch = False
        for name, value in headers:
            if name == b"user-agent":
                ua = value.decode("latin-1")
            elif name == b"x-forwarded-for":
                # Several headers are one list, in order (RFC 9110 §5.3).
                forwarded = value if forwarded is None else forwarded + b"," + value
            elif name in _PREFETCH_HEADERS:
                hint = value.lower()
                prefetch = prefetch or b"prefetch" in hint or b"preview" in hint
        if forwarded is not None and self.trusted and self.is_trusted(peer):
            peer = self._from_forwarded(forwarded.decode("latin-1"), peer)
        return peer, ua, prefetch

    def _from_forwarded(self, header: str, peer: str | None) -> str | None:
        for part in reversed(header.split(",")):
            candidate = _strip_port(part.strip())
            try:
                ipaddress.ip_address(candidate)
            except ValueError:
                return peer  # a garbled entry: stop trusting the chain, keep the proxy
            if not self.is_trusted(candidate):
                return candidate
            peer = candidate
        return peer


def _strip_port(value: str) -> str:
    if value.startswith("["):  # "[2001:db8::1]:443"
        return value[1:].partition("]")[0]
    if value.count(":") == 1:  # "192.0.2.1:443"
        return value.partition(":")[0]
    return value
