"""CNAME verification: does a customer's tracking domain point at this edge?

A customer creates ``track.brand.com`` and adds ``track.brand.com. CNAME <target>`` to their
zone, where the target is their account's own (``<label>.<EDGE_CNAME_TARGET>``, see
:mod:`admin.domains.service`). :class:`CnameVerifier` follows the CNAME chain hop by hop through
the configured resolver and says, in words a customer can act on, what it found::

    CnameCheck(valid=True,  reason="CNAME points to edge.example", chain=(...))
    CnameCheck(valid=False, reason="no such name: track.brand.com", ...)
    CnameCheck(valid=False, reason="no CNAME record for track.brand.com; it has an A record: ...")
    CnameCheck(valid=False, reason="CNAME points to other.example instead of edge.example", ...)
    CnameCheck(valid=False, reason="DNS resolver timed out after 3.0 s", temporary=True, ...)

Every lookup of one check shares one deadline (``timeout``), so a check never takes longer
than that, however long the chain or however dead the resolver.

``EDGE_DNS_NAMESERVERS`` (``host`` or ``host:port``, ``[v6]:port``) replaces the system
resolver entirely: tests point it at a DNS server on a loopback port, and operators at a
private resolver. The resolver is built by :func:`admin.outbound.resolve.make_resolver`, the
same one every outbound request's addresses come from.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import dns.asyncresolver
import dns.exception
import dns.message
import dns.name
import dns.rdataclass
import dns.rdatatype
import dns.resolver

from admin.outbound.resolve import (
    DNSLookupError,
    lookup_failure,
    make_resolver,
    parse_nameserver,
)
from edge.hosts import normalise_host

if TYPE_CHECKING:
    from edge.config import Settings


@dataclass(frozen=True)
class CnameCheck:
    """The outcome of one check. ``reason`` is shown to the customer as it is."""

    valid: bool
    reason: str
    #: Names followed, in order: the domain itself first, then each CNAME target.
    chain: tuple[str, ...]
    #: True when the answer says nothing about the records (timeout, resolver failure):
    #: a scheduled re-check should not withdraw a verified domain on such an outcome alone.
    temporary: bool = False


def _text(name: dns.name.Name) -> str:
    return name.to_text(omit_final_dot=True).lower()


class CnameVerifier:
    """Checks that a domain's CNAME chain reaches a target (``target``, unless a check names
    another: the domain service names the account's).

    Names are compared after :func:`edge.hosts.normalise_host` (case, trailing dot, IDNA),
    so ``Edge.Example.`` matches ``edge.example``.
    """

    #: Longest chain followed; resolvers give up near here too (BIND: 16 restarts).
    max_chain = 16

    def __init__(self, target: str, nameservers: Sequence[str] = (), timeout: float = 3.0) -> None:
        normalised = normalise_host(target)
        if not normalised:
            raise ValueError(f"bad CNAME target {target!r}")
        if timeout <= 0:
            raise ValueError("DNS timeout must be positive")
        for spec in nameservers:
            parse_nameserver(spec)  # fail at startup, not at the first check
        self.target = normalised
        self.nameservers = tuple(nameservers)
        self.timeout = timeout
        self._resolver: dns.asyncresolver.Resolver | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> CnameVerifier:
        """The verifier the settings describe; a bad value is a :class:`ConfigError` naming
        its variable, raised when the server starts rather than at the first check."""
        from edge.config import ConfigError

        try:
            for spec in settings.dns_nameservers:
                parse_nameserver(spec)
        except ValueError as exc:
            raise ConfigError(f"EDGE_DNS_NAMESERVERS: {exc}") from None
        if settings.dns_timeout <= 0:
            raise ConfigError(f"EDGE_DNS_TIMEOUT must be positive, got {settings.dns_timeout}")
        try:
            return cls(settings.cname_target, settings.dns_nameservers, settings.dns_timeout)
        except ValueError as exc:
            raise ConfigError(f"EDGE_CNAME_TARGET: {exc}") from None

    @property
    def resolver(self) -> dns.asyncresolver.Resolver:
        # Built on first use: reading /etc/resolv.conf should not be able to fail startup.
        if self._resolver is None:
            self._resolver = make_resolver(self.nameservers, self.timeout)
        return self._resolver

    async def check(self, domain: str, target: str | None = None) -> CnameCheck:
        """Follow ``domain``'s CNAMEs; valid when the chain reaches ``target`` (by default the
        configured one)."""
        start = normalise_host(domain)
        if not start:
            return CnameCheck(False, f"not a valid domain name: {domain!r}", ())
        wanted = normalise_host(target) if target is not None else self.target
        if not wanted:
            raise ValueError(f"bad CNAME target {target!r}")
        if start == wanted:
            return CnameCheck(False, f"{start} is the CNAME target itself", (start,))
        deadline = time.monotonic() + self.timeout
        chain = [start]
        try:
            while True:
                current = chain[-1]
                response = await self._query(current, dns.rdatatype.CNAME, deadline)
                if response is None:  # NXDOMAIN
                    if len(chain) == 1:
                        return CnameCheck(False, f"no such name: {start}", tuple(chain))
                    return _wrong_target(chain, wanted, missing=True)
                cname = _cname_of(response, current)
                if cname is None:
                    if len(chain) == 1:
                        found = await self._other_records(start, deadline)
                        reason = f"no CNAME record for {start}"
                        return CnameCheck(False, reason + found, tuple(chain))
                    return _wrong_target(chain, wanted, missing=False)
                if cname in chain:
                    chain.append(cname)
                    return CnameCheck(
                        False, "CNAME chain loops: " + " → ".join(chain), tuple(chain)
                    )
                chain.append(cname)
                if cname == wanted:
                    return CnameCheck(True, f"CNAME points to {wanted}", tuple(chain))
                if cname == self.target or cname.endswith("." + self.target):
                    # The chain entered this edge's own names (another account's target, or
                    # the shared one): what follows is the operator's, and proves nothing.
                    return _wrong_target(chain, wanted, missing=False)
                if len(chain) > self.max_chain:
                    reason = f"CNAME chain of {start} is longer than {self.max_chain} names"
                    return CnameCheck(False, reason, tuple(chain))
        except DNSLookupError as exc:
            return CnameCheck(False, exc.reason, tuple(chain), temporary=exc.temporary)

    async def _query(
        self, name: str, rdtype: dns.rdatatype.RdataType, deadline: float
    ) -> dns.message.Message | None:
        """The response for ``name``/``rdtype``; ``None`` for NXDOMAIN."""
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise DNSLookupError(f"DNS resolver timed out after {float(self.timeout)} s")
        try:
            answer = await self.resolver.resolve(
                dns.name.from_text(name),
                rdtype,
                raise_on_no_answer=False,
                lifetime=remaining,
                search=False,
            )
        except dns.resolver.NXDOMAIN:
            return None
        except dns.exception.DNSException as exc:
            raise lookup_failure(exc, name, self.timeout) from None
        return answer.response

    async def _other_records(self, name: str, deadline: float) -> str:
        """Say what a name without a CNAME has instead, e.g. ``; it has an A record: 1.2.3.4``.

        Customers often add an A record copied from somewhere; naming it makes the fix obvious.
        Best effort: the missing CNAME is the finding, so a failure here only omits the detail.
        """
        for rdtype in (dns.rdatatype.A, dns.rdatatype.AAAA):
            try:
                response = await self._query(name, rdtype, deadline)
            except DNSLookupError:
                return ""
            if response is None:
                break
            rrset = response.get_rrset(
                response.answer, dns.name.from_text(name), dns.rdataclass.IN, rdtype
            )
            if rrset:
                kind = dns.rdatatype.to_text(rdtype)
                values = ", ".join(sorted(rdata.to_text() for rdata in rrset))
                return f"; it has an {kind} record: {values}"
        return ""


def _wrong_target(chain: list[str], target: str, *, missing: bool) -> CnameCheck:
    end = chain[-1]
    reason = f"CNAME points to {end} instead of {target}"
    if len(chain) > 2:
        reason += " (via " + " → ".join(chain[1:-1]) + ")"
    if missing:
        reason += f"; {end} does not exist"
    return CnameCheck(False, reason, tuple(chain))


def _cname_of(response: dns.message.Message, name: str) -> str | None:
    """The CNAME target ``response`` gives for ``name``, normalised; ``None`` when absent."""
    owner = dns.name.from_text(name)
    rrset = response.get_rrset(response.answer, owner, dns.rdataclass.IN, dns.rdatatype.CNAME)
    if not rrset:
        return None
    target = _text(rrset[0].target)
    return normalise_host(target) or target
