"""A real edge serving HTTP and HTTPS (``EdgeListeners``) on loopback, and TLS client helpers.

``make_https_server(settings)`` starts the whole app with both listeners in a background
thread; ``https_get(port, name, root_pem, path)`` makes a verified HTTPS request with SNI
``name``; ``served_certificate(port, name)`` returns the leaf a handshake with that SNI gets.
On the running server, ``live.active_domain``, ``live.click`` and ``live.serial`` give a domain
an active certificate, click on it over HTTPS and read the serial it presents.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, replace

import httpx
import pytest
from cryptography import x509

from admin.ssl.lifecycle import CertificateManager
from admin.ssl.wiring import TlsParts, build_tls
from edge.config import Settings
from edge.db.repositories import Repositories
from edge.model.certificates import CertificateRecord
from edge.serving.domains import TrackingHost
from edge.serving.server import EdgeServer, Runtime
from edge.serving.uvicorn_internals import EdgeListeners
from edge.tokens.links import LinkBuilder
from tests.conftest import free_port, serve_in_thread, server_config
from tests.fixtures_dns import DNSServer
from tests.stores import in_store


@dataclass
class HttpsLive:
    app: EdgeServer
    http_port: int
    https_port: int
    server: EdgeListeners
    thread: threading.Thread
    loop: asyncio.AbstractEventLoop
    tls: TlsParts | None = None
    settings: Settings | None = None

    @property
    def manager(self) -> CertificateManager:
        assert self.tls is not None and self.tls.manager is not None
        return self.tls.manager

    def call(self, coro_factory: Callable, timeout: float = 60):
        """Run a coroutine on the server loop; return its result."""
        return asyncio.run_coroutine_threadsafe(coro_factory(), self.loop).result(timeout)

    def refresh_certificates(self) -> None:
        """Make this listener see the stored certificates now (instead of at its next poll)."""
        assert self.server.certificates is not None
        self.call(lambda: self.server.certificates.refresh())

    def active_domain(self, account_id: int, name: str) -> int:
        """A verified domain ``name`` of the account with an active certificate from the local
        CA, presented from now on."""

        async def add(tx: Repositories) -> int:
            now = int(time.time())
            domain_id = await tx.domains.insert(account_id, name, secure=True, now=now)
            await tx.domains.mark_valid(domain_id, "", checked=time.time(), now=now)
            return domain_id

        domain_id: int = in_store(self.settings, add)
        manager = self.app.admin_app.state.services.domains.provisioner
        self.call(lambda: manager.provision(domain_id))
        self.call(manager.idle)
        self.refresh_certificates()
        return domain_id

    def click(self, name: str, account_id: int, landing: str) -> httpx.Response:
        """A signed click to ``landing`` on ``name``, over HTTPS with SNI ``name``, trusting
        the local CA only."""
        links = LinkBuilder(self.app.runtime.codec, 80, self.https_port)
        url = links.click_url(TrackingHost(name, account_id, True, True), account_id, landing)
        root = (self.settings.data_dir / "local-ca" / "root.pem").read_text()
        return https_get(self.https_port, name, root, httpx.URL(url).raw_path.decode())

    def serial(self, name: str) -> int:
        """The serial number of the certificate a handshake with SNI ``name`` gets."""
        return served_certificate(self.https_port, name).serial_number

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)


def full_app_for(
    make_https_server: Callable[..., HttpsLive], settings: Settings, dns_server: DNSServer,
    name: str,
) -> HttpsLive:  # fmt: skip
    """The whole app over real TLS (the local CA), ``name`` resolving to loopback on the
    DNS server, and the HTTPS proof of a new certificate sent to this listener."""
    dns_server.set_a(name, "127.0.0.1")
    port = free_port()
    config = replace(
        settings,
        https_verify_port=port,
        dns_nameservers=(dns_server.nameserver,),
        dns_timeout=2.0,
    )
    live: HttpsLive = make_https_server(config, full=True, https_port=port)
    return live


def start_https_server(app: EdgeServer, settings: Settings, **ports: int) -> HttpsLive:
    http_port = ports.get("http_port") or free_port()
    https_port = ports.get("https_port") or free_port()
    server = EdgeListeners(server_config(app, http_port), https_port=https_port, settings=settings)
    thread, loop = serve_in_thread(server, f"edge-https-{https_port}")
    return HttpsLive(app, http_port, https_port, server, thread, loop)


@contextlib.asynccontextmanager
async def _stops_issuance(manager: CertificateManager) -> AsyncIterator[None]:
    try:
        yield
    finally:
        await manager.stop()


def edge_with_tls(settings: Settings) -> tuple[EdgeServer, TlsParts]:
    """The edge alone (no admin API) with the TLS parts wired as ``create_app`` wires them."""
    runtime = Runtime.build(settings)
    tls = build_tls(runtime)
    app = EdgeServer(runtime)
    app.well_known["acme-challenge"] = tls.responder
    if tls.manager is not None:
        # Not running: tests run the renewal pass themselves (run_due) when they mean to;
        # issuances they start are stopped with the server.
        app.lifespans.append(lambda: _stops_issuance(tls.manager))
    return app, tls


@pytest.fixture
def make_https_server() -> Iterator[Callable[..., HttpsLive]]:
    """``make_https_server(settings)``: the edge with its TLS parts (``live.tls``); with
    ``full=True`` the whole app from ``create_app`` (admin API included)."""
    started: list[HttpsLive] = []

    def make(settings: Settings, *, full: bool = False, **ports: int) -> HttpsLive:
        if full:
            from admin.server import create_app

            app, tls = create_app(settings), None
        else:
            app, tls = edge_with_tls(settings)
        live = start_https_server(app, settings, **ports)
        live.tls = tls
        live.settings = settings
        started.append(live)
        return live

    yield make
    for live in started:
        live.stop()


def client_context(root_pem: str | bytes) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cadata=root_pem if isinstance(root_pem, str) else None)
    if isinstance(root_pem, bytes):
        ctx.load_verify_locations(cadata=root_pem.decode())
    return ctx


def https_get(port: int, name: str, root_pem: str, path: str = "/") -> httpx.Response:
    """GET ``https://<name><path>`` on 127.0.0.1:``port``, verified against ``root_pem``."""
    with httpx.Client(verify=client_context(root_pem), follow_redirects=False) as client:
        return client.get(
            f"https://127.0.0.1:{port}{path}",
            headers={"host": name},
            extensions={"sni_hostname": name},
        )


def served_certificate(port: int, name: str | None, *, before: bytes = b"") -> x509.Certificate:
    """The leaf presented to a client sending SNI ``name`` (no SNI when ``None``), after
    sending ``before`` (a PROXY protocol header, for a listener expecting one)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        raw.sendall(before)
        with ctx.wrap_socket(raw, server_hostname=name) as tls:
            der = tls.getpeercert(binary_form=True)
    assert der is not None
    return x509.load_der_x509_certificate(der)


def put_certificate(settings: Settings, domain: str, chain_pem: str, key_pem: str) -> str:
    """Store a certificate for ``domain`` as the provisioner would; return its serial."""
    record = CertificateRecord.from_pem(domain, chain_pem, key_pem)
    in_store(settings, lambda tx: tx.certificates.save(record, now=int(time.time())))
    return record.serial


def add_domain(settings: Settings, domain: str, *, verified: bool = True) -> int:
    """Add a tracking domain of the built-in account, verified unless told; return its id."""

    async def add(tx: Repositories) -> int:
        domain_id = await tx.domains.insert(1, domain, secure=False, now=int(time.time()))
        if verified:
            await tx.domains.mark_valid(domain_id, "", checked=time.time(), now=int(time.time()))
        return domain_id

    return in_store(settings, add)
