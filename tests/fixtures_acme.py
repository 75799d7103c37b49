"""A real ACME server: Debian's ``pebble``, resolving through ``pebble-challtestsrv``.

``pebble`` (module-scoped) runs both on free loopback ports: challtestsrv answers every A
query with 127.0.0.1 and no AAAA (``-defaultIPv6 ""``: else Pebble dials ``[::1]``), and Pebble
validates HTTP-01 on ``pebble.http_port``, where the test starts its edge. Pebble's own HTTPS
uses a CA made here (``pebble.tls_ca_path``: what ``EDGE_ACME_CA_BUNDLE`` points at); the
root that signs issued certificates is ``pebble.root_pem()`` (new at every start).

When the binaries are missing the tests that use these fixtures FAIL: ``scripts/test.sh``
(and so ``.ci/run``) installs them with apt-get.
"""

from __future__ import annotations

import json
import os
import shutil
import ssl
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from ipaddress import ip_address
from pathlib import Path
from typing import IO

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.conftest import free_port

MISSING = (
    "{} is not installed: the ACME tests need Debian's `pebble` package "
    "(`apt-get install pebble`; scripts/test.sh installs it when run as root)"
)


def _binary(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(MISSING.format(name), pytrace=False)
    return path


def _write_tls_files(directory: Path) -> tuple[Path, Path, Path]:
    """A CA and a leaf for 127.0.0.1/localhost: Pebble's own HTTPS (the package has none)."""
    now = datetime.now(UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "pebble test TLS CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    ca_path, cert_path, key_path = (
        directory / "ca.pem",
        directory / "cert.pem",
        directory / "key.pem",
    )
    ca_path.write_bytes(ca.public_bytes(pem))
    cert_path.write_bytes(leaf.public_bytes(pem))
    key_path.write_bytes(
        key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return ca_path, cert_path, key_path


@dataclass
class Pebble:
    directory_url: str
    management_url: str
    challtestsrv_url: str
    http_port: int
    tls_ca_path: Path
    processes: list[subprocess.Popen] = field(default_factory=list)
    log: IO[bytes] | None = None

    def _management(self) -> httpx.Client:
        return httpx.Client(verify=ssl.create_default_context(cafile=self.tls_ca_path), timeout=5)

    def log_text(self) -> str:
        """Pebble's and challtestsrv's output so far (every ACME request is a line)."""
        return (self.tls_ca_path.parent / "pebble.log").read_text(errors="replace")

    def root_pem(self) -> str:
        """The root of the chains Pebble issues (trust it to verify an edge's certificate)."""
        with self._management() as client:
            return client.get(f"{self.management_url}/roots/0").raise_for_status().text

    def intermediate_pem(self) -> str:
        with self._management() as client:
            return client.get(f"{self.management_url}/intermediates/0").raise_for_status().text

    def set_address(self, host: str, address: str) -> None:
        """Make Pebble's resolver answer ``host`` with ``address`` (instead of 127.0.0.1)."""
        httpx.post(
            f"{self.challtestsrv_url}/add-a", json={"host": host, "addresses": [address]}
        ).raise_for_status()

    def clear_address(self, host: str) -> None:
        httpx.post(f"{self.challtestsrv_url}/clear-a", json={"host": host}).raise_for_status()

    def stop(self) -> None:
        for proc in self.processes:
            proc.terminate()
        for proc in self.processes:
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if self.log is not None:
            self.log.close()


def start_pebble(directory: Path, **config: object) -> Pebble:
    """Start challtestsrv and Pebble; ``config`` adds keys to Pebble's JSON configuration."""
    pebble_bin, challtestsrv_bin = _binary("pebble"), _binary("pebble-challtestsrv")
    directory.mkdir(parents=True, exist_ok=True)
    ca_path, cert_path, key_path = _write_tls_files(directory)
    dns_port, chall_mgmt = free_port(), free_port()
    listen, mgmt, http_port = free_port(), free_port(), free_port()
    settings = {
        "listenAddress": f"127.0.0.1:{listen}",
        "managementListenAddress": f"127.0.0.1:{mgmt}",
        "certificate": str(cert_path),
        "privateKey": str(key_path),
        "httpPort": http_port,
        "tlsPort": free_port(),
        "ocspResponderURL": "",
        "externalAccountBindingRequired": False,
        **config,
    }
    config_path = directory / "pebble-config.json"
    config_path.write_text(json.dumps({"pebble": settings}))
    log = open(directory / "pebble.log", "wb")  # noqa: SIM115 - kept open for the processes
    pebble = Pebble(
        f"https://127.0.0.1:{listen}/dir",
        f"https://127.0.0.1:{mgmt}",
        f"http://127.0.0.1:{chall_mgmt}",
        http_port,
        ca_path,
        log=log,
    )
    pebble.processes.append(
        subprocess.Popen(
            [
                challtestsrv_bin,
                "-management",
                f"127.0.0.1:{chall_mgmt}",
                "-dns01",
                f"127.0.0.1:{dns_port}",
                "-http01",
                "",
                "-https01",
                "",
                "-tlsalpn01",
                "",
                "-defaultIPv4",
                "127.0.0.1",
                "-defaultIPv6",
                "",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    )
    env = {
        **os.environ,
        "PEBBLE_VA_NOSLEEP": "1",  # no random sleep before each validation
        "PEBBLE_WFE_NONCEREJECT": "0",  # acme retries a bad nonce only once
        "PEBBLE_AUTHZREUSE": "0",  # every order really validates
    }
    pebble.processes.append(
        subprocess.Popen(
            [
                pebble_bin,
                "-config",
                str(config_path),
                "-dnsserver",
                f"127.0.0.1:{dns_port}",
                "-strict=false",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=directory,
        )
    )
    deadline = time.monotonic() + 15
    with httpx.Client(verify=ssl.create_default_context(cafile=ca_path), timeout=1) as client:
        while True:
            try:
                client.get(pebble.directory_url).raise_for_status()
                httpx.get(pebble.challtestsrv_url + "/", timeout=1)
                break
            except httpx.HTTPError:
                dead = [p for p in pebble.processes if p.poll() is not None]
                if dead or time.monotonic() > deadline:
                    pebble.stop()
                    output = (directory / "pebble.log").read_text(errors="replace")[-2000:]
                    pytest.fail(f"pebble did not start:\n{output}", pytrace=False)
                time.sleep(0.02)
    return pebble


@pytest.fixture(scope="module")
def pebble(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pebble]:
    """One Pebble per test module (it starts in well under a second, but not for free)."""
    server = start_pebble(tmp_path_factory.mktemp("pebble"))
    yield server
    server.stop()
