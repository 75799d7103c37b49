"""A stored certificate and the facts about it that reports and the SNI lookup need."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from ipaddress import ip_address

from cryptography import x509
from cryptography.x509.oid import NameOID


@dataclass(frozen=True)
class CertificateRecord:
    """A certificate as stored: the PEM chain (leaf first), its key, and what reports need."""

    domain: str
    chain_pem: str
    key_pem: str
    serial: str
    issuer: str
    not_before: datetime
    not_after: datetime

    @classmethod
    def from_pem(cls, domain: str, chain_pem: str, key_pem: str) -> CertificateRecord:
        """Describe an issued chain; ``ValueError`` if it does not cover ``domain``."""
        leaf = x509.load_pem_x509_certificate(chain_pem.encode())
        if not certificate_covers(leaf, domain):
            raise ValueError(f"certificate does not cover {domain}")
        return cls(
            domain,
            chain_pem,
            key_pem,
            format(leaf.serial_number, "x"),
            issuer_name(leaf),
            leaf.not_valid_before_utc,
            leaf.not_valid_after_utc,
        )


def issuer_name(cert: x509.Certificate) -> str:
    """The issuer's common name (or organisation), as ``GET .../ssl`` reports it."""
    for oid in (NameOID.COMMON_NAME, NameOID.ORGANIZATION_NAME):
        attrs = cert.issuer.get_attributes_for_oid(oid)
        if attrs:
            return str(attrs[0].value)
    return cert.issuer.rfc4514_string()


def certificate_covers(cert: x509.Certificate, name: str) -> bool:
    """Whether the certificate's subjectAltName lists ``name`` exactly (no wildcards issued)."""
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return False
    try:
        return ip_address(name) in san.get_values_for_type(x509.IPAddress)
    except ValueError:
        return name in (n.lower() for n in san.get_values_for_type(x509.DNSName))
