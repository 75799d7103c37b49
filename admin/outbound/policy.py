"""Which addresses an outbound request may connect to: globally routable ones, plus the
networks an operator allows.

A customer's DNS (or a URL an account registers) picks the address this server connects to,
so every address is judged before a packet is sent. The rule is an allow-list of the global
address space, not a deny-list of private ranges, so that a range nobody thought of is refused
rather than reached:

- IPv4: everything except the special-purpose blocks the IANA registry (RFC 6890 and its
  updates) does not mark globally reachable, multicast and the reserved 240.0.0.0/4.
- IPv6: only global unicast, 2000::/3 (RFC 4291 §2.4; everything else is loopback, link- or
  site-local, unique-local, multicast or unassigned), less its non-global special blocks.
- IPv6 forms that carry an IPv4 address (mapped, translated, NAT64, 6to4, Teredo) are judged
  by that IPv4 address: the packet ends up there, so ``::ffff:169.254.169.254`` is the cloud
  metadata service, not a global IPv6 address.

Python's ``ipaddress.is_global`` is not used: its tables differ between Python versions and,
in the one this project runs on, call ``fec0::1`` and ``::ffff:0:a9fe:a9fe`` global.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

from edge.config import ConfigError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

LOOPBACK_NETWORKS = ("127.0.0.0/8", "::1/128")

_v4 = ipaddress.IPv4Network
_v6 = ipaddress.IPv6Network

#: IPv4 blocks that are not globally reachable (IANA IPv4 Special-Purpose Address Registry).
NON_GLOBAL_V4 = (
    _v4("0.0.0.0/8"),  # "this network", RFC 791 §3.2, RFC 1122 §3.2.1.3
    _v4("10.0.0.0/8"),  # private, RFC 1918
    _v4("100.64.0.0/10"),  # shared address space (carrier-grade NAT), RFC 6598
    _v4("127.0.0.0/8"),  # loopback, RFC 1122 §3.2.1.3
    _v4("169.254.0.0/16"),  # link-local (cloud metadata at .169.254), RFC 3927
    _v4("172.16.0.0/12"),  # private, RFC 1918
    _v4("192.0.0.0/24"),  # IETF protocol assignments, RFC 6890 §2.2.2
    _v4("192.0.2.0/24"),  # documentation TEST-NET-1, RFC 5737
    _v4("192.88.99.0/24"),  # 6to4 relay anycast, deprecated by RFC 7526
    _v4("192.168.0.0/16"),  # private, RFC 1918
    _v4("198.18.0.0/15"),  # benchmarking, RFC 2544
    _v4("198.51.100.0/24"),  # documentation TEST-NET-2, RFC 5737
    _v4("203.0.113.0/24"),  # documentation TEST-NET-3, RFC 5737
    _v4("224.0.0.0/4"),  # multicast, RFC 5771
    _v4("240.0.0.0/4"),  # reserved, RFC 1112 §4; includes broadcast 255.255.255.255 (RFC 919)
)

#: Global unicast, the only IPv6 space routed on the Internet (RFC 4291 §2.4, IANA).
GLOBAL_UNICAST_V6 = _v6("2000::/3")
#: Blocks inside 2000::/3 that are not globally reachable (IANA IPv6 Special-Purpose Registry).
NON_GLOBAL_V6 = (
    _v6("2001::/23"),  # IETF protocol assignments, RFC 2928 (Teredo, judged below, is in it)
    _v6("2001:db8::/32"),  # documentation, RFC 3849
    _v6("3fff::/20"),  # documentation, RFC 9637
)

#: IPv4-translated addresses, ::ffff:0:a.b.c.d (SIIT, RFC 2765 §2.1; RFC 7915).
TRANSLATED_V6 = _v6("::ffff:0:0:0/96")
#: NAT64 well-known prefix (RFC 6052 §2.1): the translator connects to the last 32 bits.
#: Judged by them, so that an IPv6-only host behind DNS64 still reaches public names.
NAT64_V6 = _v6("64:ff9b::/96")


def reached(ip: IPAddress) -> IPAddress:
    """The address a connection to ``ip`` ends up at: the IPv4 address inside the IPv6 forms
    that carry one, else ``ip`` itself."""
    if isinstance(ip, ipaddress.IPv4Address):
        return ip
    if ip.ipv4_mapped is not None:  # ::ffff:a.b.c.d, RFC 4291 §2.5.5.2
        return ip.ipv4_mapped
    if ip in TRANSLATED_V6 or ip in NAT64_V6:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip.sixtofour is not None:  # 2002:aabb:ccdd::/48, RFC 3056 §2
        return ip.sixtofour
    if ip.teredo is not None:  # 2001::/32, RFC 4380 §4: the client's (de-obfuscated) IPv4
        return ip.teredo[1]
    return ip


def is_global(ip: IPAddress) -> bool:
    """Whether ``ip`` itself is globally routable (embedded forms are :func:`reached` first)."""
    if isinstance(ip, ipaddress.IPv4Address):
        return not any(ip in net for net in NON_GLOBAL_V4)
    if ip.scope_id:  # fe80::1%eth0: a zone index only means something on one link
        return False
    return ip in GLOBAL_UNICAST_V6 and not any(ip in net for net in NON_GLOBAL_V6)


class AddressPolicy:
    """Which addresses may be connected to: globally routable ones, plus ``allowed`` networks.

    ``setting`` names the variable that configures ``allowed``, for the refusal's wording.
    """

    def __init__(
        self, allowed: Sequence[str] = (), *, setting: str = "EDGE_VERIFY_ALLOW_NETWORKS"
    ) -> None:
        self.allowed: tuple[IPNetwork, ...] = tuple(
            ipaddress.ip_network(net.strip(), strict=False) for net in allowed
        )
        self.setting = setting

    @classmethod
    def from_setting(cls, setting: str, networks: Sequence[str]) -> AddressPolicy:
        """The policy for a configured list; a bad entry is a :class:`ConfigError` naming it."""
        try:
            return cls(networks, setting=setting)
        except ValueError as exc:
            raise ConfigError(f"{setting}: {exc}") from None

    def refusal(self, address: str) -> str | None:
        """Why ``address`` must not be connected to, or ``None`` when it may be."""
        ip = ipaddress.ip_address(address)
        target = reached(ip)
        if self._allows(ip) or self._allows(target) or is_global(target):
            return None
        return (
            f"refusing to connect to {address}: not a public address "
            f"({self.setting} can allow its network)"
        )

    def _allows(self, ip: IPAddress) -> bool:
        return any(ip.version == net.version and ip in net for net in self.allowed)
