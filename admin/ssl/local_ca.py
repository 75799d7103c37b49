"""The embedded certificate authority: HTTPS that works offline, in development.

With no ``EDGE_ACME_DIRECTORY`` configured, the provisioner issues from this CA. It is
created on first start in ``<data_dir>/local-ca`` (``root.pem`` is what you trust, see the
README; ``root.key`` never leaves the directory) and issues at once, with no network.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
from datetime import UTC, datetime, timedelta
from ipaddress import ip_address
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from admin.ssl.issuance import IssuedCertificate


def new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def key_pem(key: ec.EllipticCurvePrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


class LocalCA:
    """A root key and certificate in a directory, issuing short leaf certificates."""

    name = "local CA"
    #: Leaf validity, as Let's Encrypt's (the renewal job renews these too).
    validity = timedelta(days=90)
    root_validity = timedelta(days=3650)
    common_name = "tracking-edge local CA"

    def __init__(self, directory: Path, *, validity: timedelta | None = None) -> None:
        self.directory = Path(directory)
        if validity is not None:
            self.validity = validity
        self._root: x509.Certificate | None = None
        self._key: ec.EllipticCurvePrivateKey | None = None

    @property
    def root_path(self) -> Path:
        return self.directory / "root.pem"

    @property
    def key_path(self) -> Path:
        return self.directory / "root.key"

    def load_or_create(self) -> x509.Certificate:
        """Load the root, creating it (once) when the directory has none."""
        if self._root is not None:
            return self._root
        if not self.root_path.exists():
            self.directory.mkdir(parents=True, exist_ok=True)
            # Workers starting together: one creates, the others wait and load its files.
            with open(self.directory / ".lock", "w") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)
                if not self.root_path.exists():
                    self._create()
        key = serialization.load_pem_private_key(self.key_path.read_bytes(), password=None)
        assert isinstance(key, ec.EllipticCurvePrivateKey)  # as _create() wrote it
        self._key = key
        self._root = x509.load_pem_x509_certificate(self.root_path.read_bytes())
        return self._root

    def _create(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        key = new_key()
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, self.common_name)])
        now = datetime.now(UTC)
        root = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5))
            .not_valid_after(now + self.root_validity)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
            .sign(key, hashes.SHA256())
        )
        # Write the key first, private from the start; the root last, as the "created" mark
        # (a crash between the two only makes the next start create both again).
        tmp = self.key_path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(key_pem(key))
        os.replace(tmp, self.key_path)
        tmp = self.root_path.with_suffix(".tmp")
        tmp.write_bytes(root.public_bytes(serialization.Encoding.PEM))
        os.replace(tmp, self.root_path)

    def issue_now(self, domain: str) -> IssuedCertificate:
        """Sign a leaf for ``domain`` (a DNS name or an IP address) at once."""
        root = self.load_or_create()
        assert self._key is not None
        key = new_key()
        try:
            alt: x509.GeneralName = x509.IPAddress(ip_address(domain))
        except ValueError:
            alt = x509.DNSName(domain)
        now = datetime.now(UTC)
        leaf = (
            x509.CertificateBuilder()
            # A CN holds at most 64 characters; the name is in the SAN, which is what counts.
            .subject_name(
                x509.Name(
                    [x509.NameAttribute(NameOID.COMMON_NAME, domain)] if len(domain) <= 64 else []
                )
            )
            .issuer_name(root.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5))
            .not_valid_after(now + self.validity)
            .add_extension(x509.SubjectAlternativeName([alt]), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False)
            # The key that signs: the root's (its public half is in the root certificate).
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self._key.public_key()),
                critical=False,
            )
            .sign(self._key, hashes.SHA256())
        )
        return IssuedCertificate(
            leaf.public_bytes(serialization.Encoding.PEM).decode(), key_pem(key)
        )

    async def issue(self, domain: str) -> IssuedCertificate:
        return await asyncio.to_thread(self.issue_now, domain)
