"""Per-account privacy and tracking switches, applied when an event is recorded.

An account chooses whether client addresses are stored in full, truncated to their network
(/24 for IPv4, /48 for IPv6: enough for rough geography, not for one household) or not at
all; whether user agents are stored; and whether opens and clicks are tracked at all. The
switches are applied by the ingester *after* classification, which needs the address and
user agent, and *before* the event is stored, so a dropped value never reaches the database
or a webhook. Until then it exists only on its way there: in the serving process's memory and
in the spool (owner-only files, deleted once ingested, seconds later unless the ingester is
behind).

With open (or click) tracking off, the rewriter leaves the pixel (or the links) out, and
events of that type still arriving from messages sent earlier are not recorded.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Literal, TypeAlias, get_args

#: How client addresses are stored: in full, truncated to their network, or not at all.
IpMode: TypeAlias = Literal["full", "truncated", "none"]
#: Whether user agents are stored.
UaMode: TypeAlias = Literal["full", "none"]
IP_MODES: tuple[IpMode, ...] = get_args(IpMode)
UA_MODES: tuple[UaMode, ...] = get_args(UaMode)


@dataclass(frozen=True, slots=True)
class PrivacySettings:
    client_ip: str = "full"
    user_agent: str = "full"
    track_opens: bool = True
    track_clicks: bool = True

    def __post_init__(self) -> None:
        if self.client_ip not in IP_MODES:
            raise ValueError(f"client_ip must be one of {', '.join(IP_MODES)}")
        if self.user_agent not in UA_MODES:
            raise ValueError(f"user_agent must be one of {', '.join(UA_MODES)}")

    def tracks(self, event_type: str) -> bool:
        return self.track_clicks if event_type == "click" else self.track_opens

    def address(self, ip: str | None) -> str | None:
        if ip is None or self.client_ip == "full":
            return ip
        if self.client_ip == "none":
            return None
        return truncate_address(ip)

    def agent(self, ua: str | None) -> str | None:
        return ua if self.user_agent == "full" else None


DEFAULT = PrivacySettings()


def truncate_address(ip: str) -> str | None:
    """The network of ``ip``: its /24 (IPv4) or /48 (IPv6), as an address; ``None`` if garbled."""
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return None
    if address.version == 6 and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    prefix = 24 if address.version == 4 else 48
    return str(ipaddress.ip_network(f"{address}/{prefix}", strict=False).network_address)
