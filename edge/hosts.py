"""Host names: the one place that turns a ``Host`` header or a user's input into a domain key.

Normalisation lower-cases, strips the port and a trailing dot, and converts internationalised
names to A-labels (IDNA 2008 with UTS #46 mapping, as browsers do), so ``Track.Brand.COM.:443``
and ``track.brand.com`` are the same tracking domain.
"""

from __future__ import annotations

import re

import idna

# What may appear in a normalised host: LDH labels, dots, and the underscore some DNS names
# carry. Stricter rules for names a customer may register live in the domain validation.
_HOST_CHARS = re.compile(r"[a-z0-9_.-]+")


def normalise_host(raw: str | bytes | None) -> str | None:
    """Return the canonical host name for ``raw``, or ``None`` when it is not a host name.

    IP literals are returned as they are (IPv6 without brackets), since the default
    tracking domain may be one in development.
    """
    if raw is None:
        return None
    if isinstance(raw, bytes):
        try:
            text = raw.decode("ascii")
        except UnicodeDecodeError:
            # RFC 9110 §7.2: Host is ASCII; a raw UTF-8 name is tolerated as some clients send it.
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                return None
    else:
        text = raw
    host = text.strip()
    if not host:
        return None
    if host.startswith("["):  # IPv6 literal, possibly with a port: [::1]:8000
        end = host.find("]")
        return host[1:end].lower() if end > 1 else None
    if host.count(":") == 1:
        host, _, port = host.partition(":")
        if port and not port.isdigit():
            return None
    elif ":" in host:  # a bare IPv6 address
        return host.lower()
    host = host.rstrip(".").lower()
    if not host:
        return None
    if not host.isascii():
        try:
            # UTS 46 maps the other full stops (U+3002 and its kin) to "."; a trailing one
            # is a trailing dot all the same.
            host = idna.encode(host, uts46=True).decode("ascii").rstrip(".")
        except idna.IDNAError:
            return None
    return host if host and _HOST_CHARS.fullmatch(host) else None


class HostCache:
    """Memoises :func:`normalise_host` for raw header values on the hot path.

    The set of Host values a server sees is small (its domains), but an attacker can send
    many, so the cache is cleared when it grows past ``max_size`` rather than growing forever.
    """

    max_size = 4096

    def __init__(self) -> None:
        self._cache: dict[bytes, str | None] = {}

    def __call__(self, raw: bytes) -> str | None:
        try:
            return self._cache[raw]
        except KeyError:
            pass
        host = normalise_host(raw)
        if len(self._cache) >= self.max_size:
            self._cache.clear()
        self._cache[raw] = host
        return host
