"""The one rule set for tracking-domain names, shared by both API dialects and the CLI.

:meth:`DomainRules.parse` turns what a user typed into the stored key (lower case, A-labels,
no trailing dot) or raises the error SparkPost's API gives for it, checked in this order:

1. missing or empty → 1400 ``field 'domain' is required``
2. characters other than letters, digits, ``-`` and ``.`` (spaces, ``*`` wildcards, ``_``,
   ``:`` ports, ``/``) → 1300 ``...contains invalid characters or spaces...``
3. shorter than :attr:`DomainRules.min_length` → 1300 ``...length too short...``
4. no dot → 1300 ``...contains no '.'(s)...``
5. an IP address, an empty label (``a..b``, a leading dot), a label longer than 63 or with a
   leading or trailing hyphen (RFC 1123 §2.1), longer than 253 in all (RFC 1035 §2.3.4), an
   all-numeric last label, or a name IDNA refuses → 1300 ``Error validating domain name syntax``
6. the configured default domain, CNAME target and admin host, ``localhost``, the operator's
   deny list, and any subdomain of those → 7000 ``restricted domain``

Normalised, not rejected: surrounding whitespace, upper case, one trailing dot (the DNS root,
``track.brand.com.`` is ``track.brand.com``), and Unicode names (IDNA 2008 with UTS #46, as
:func:`edge.hosts.normalise_host` does it, so ``tråck.brand.com`` is ``xn--trck-roa.brand.com``).
The descriptions quote the input as given, as the seed does.
"""

from __future__ import annotations

import ipaddress
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

import idna

from admin.api.errors import InvalidData, InvalidDomain, MissingField, Restricted
from edge.config import Settings
from edge.hosts import normalise_host

SYNTAX = "Error validating domain name syntax for domain: '{}'"
TOO_SHORT = "Error domain name length too short for domain: '{}'"
NO_DOT = "Error domain name contains no '.'(s) for domain: '{}'"
BAD_CHARACTERS = "Error domain name contains invalid characters or spaces for domain: '{}'"


@dataclass(frozen=True)
class DomainRules:
    #: Names (with their subdomains) nobody may claim, already normalised.
    restricted: frozenset[str] = frozenset({"localhost"})
    min_length: int = 3
    max_length: int = 253
    max_label: int = 63

    @classmethod
    def from_settings(cls, settings: Settings) -> DomainRules:
        names: Iterable[str | None] = (
            "localhost",
            settings.default_domain,
            settings.cname_target,
            settings.admin_host,
            *settings.deny_domains,
        )
        return cls(frozenset(n for n in (normalise_host(x) for x in names) if n))

    def parse(self, raw: object, field: str = "domain") -> str:
        """The canonical name for ``raw``, or raise; restricted names included."""
        name = self.syntax(raw, field)
        if self.is_restricted(name):
            raise Restricted(name)
        return name

    def syntax(self, raw: object, field: str = "domain") -> str:
        """Like :meth:`parse` without the restriction check (for sending domains)."""
        if raw is None:
            raise MissingField(field)
        if not isinstance(raw, str):
            raise InvalidData(f"field '{field}' must be a string", field=field)
        text = raw.strip()
        if not text:
            raise MissingField(field)
        if any(not _allowed(ch) for ch in text):
            raise InvalidDomain(BAD_CHARACTERS.format(text), text)
        if len(text) < self.min_length:
            raise InvalidDomain(TOO_SHORT.format(text), text)
        bare = text[:-1] if text.endswith(".") else text
        if "." not in bare:
            raise InvalidDomain(NO_DOT.format(text), text)
        name = normalise_host(bare) if _is_syntactic(bare) else None
        if name is None or not self._labels_ok(name):
            raise InvalidDomain(SYNTAX.format(text), text)
        return name

    def is_restricted(self, name: str) -> bool:
        return any(name == r or name.endswith("." + r) for r in self.restricted)

    def _labels_ok(self, name: str) -> bool:
        if len(name) > self.max_length:
            return False
        labels = name.split(".")
        for label in labels:
            if not 1 <= len(label) <= self.max_label:
                return False
            if label.startswith("-") or label.endswith("-"):
                return False
            if not all(c.isascii() and (c.isalnum() or c == "-") for c in label):
                return False
            if label.startswith("xn--") and not _punycode_ok(label):
                return False
        # A name ending in a numeric label reads as an address to resolvers and browsers.
        return not labels[-1].isdigit()


def _allowed(ch: str) -> bool:
    if ch.isascii():
        return ch.isalnum() or ch in "-."
    # Unicode letters (and the marks that combine with them) are IDNA's to judge.
    return ch.isalnum() or unicodedata.category(ch).startswith("M")


def _is_syntactic(bare: str) -> bool:
    """Empty labels and IP addresses fail before IDNA sees them."""
    if bare.startswith(".") or bare.endswith(".") or ".." in bare:
        return False
    try:
        ipaddress.ip_address(bare)
    except ValueError:
        return True
    return False


def _punycode_ok(label: str) -> bool:
    """An A-label typed as such must decode (RFC 5891 §5.4), like the ones IDNA makes."""
    try:
        idna.decode(label)
    except (idna.IDNAError, UnicodeError):
        return False
    return True
