"""The certificate store the TLS listener serves from: one ``SSLContext`` per SNI name.

Certificates live in the database (issued by any process: the admin API, the renewal job of
another worker). Each worker keeps the rows in memory and polls the ``certificates`` change
counter, like the domain table does, so a new or renewed certificate is served within a poll
interval without a restart. Contexts are built on first use and cached per serial.

Isolation rules (issue 4): the SNI name picks *that* name's certificate; a name without one gets
the default domain's certificate, or the handshake fails. A row whose certificate does not
cover its own name is never loaded, so one customer's certificate cannot be served for another.

Only served domains' certificates are presented (:func:`edge.model.domains.is_served`): a
blocked domain, or one whose CNAME went away, keeps its certificate in the database but the
SNI lookup treats its name as unknown. The store also polls the domains' change counter, so a
block takes effect within a poll interval, and an unblock too, without a new issuance.

On a shared database the certificates presented are also saved on the node's disk, for a
start while the database is down (:mod:`edge.serving.snapshot`).
"""

from __future__ import annotations

import contextlib
import logging
import os
import ssl
import tempfile
from collections.abc import AsyncIterator
from typing import Any

from cryptography import x509

from edge.db.store import Store, StoreUnavailable
from edge.model.certificates import CertificateRecord, certificate_covers
from edge.serving.mirror import Mirror
from edge.serving.snapshot import Snapshot

log = logging.getLogger("edge.certs")

#: TLS 1.2 suites with forward secrecy and AEAD only (TLS 1.3 suites are all fine already).
CIPHERS = "ECDHE+AESGCM:ECDHE+CHACHA20"


def server_context() -> ssl.SSLContext:
    """A server context with the edge's TLS policy: TLS 1.2+, AEAD suites, HTTP/1.1 only."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.set_ciphers(CIPHERS)
    ctx.set_alpn_protocols(["http/1.1"])
    ctx.options |= ssl.OP_NO_COMPRESSION | ssl.OP_CIPHER_SERVER_PREFERENCE
    return ctx


def context_for(record: CertificateRecord) -> ssl.SSLContext:
    """Build a server context holding ``record``'s chain and key.

    ``load_cert_chain`` only reads files, so the PEM goes through a private temporary file
    that is removed at once.
    """
    ctx = server_context()
    fd, path = tempfile.mkstemp(prefix="edge-cert-", suffix=".pem")
    try:
        with os.fdopen(fd, "w") as fh:  # mkstemp creates the file 0600
            fh.write(record.chain_pem)
            fh.write(record.key_pem)
        ctx.load_cert_chain(path)
    finally:
        os.unlink(path)
    return ctx


class CertificateStore(Mirror):
    """Per-SNI ``SSLContext`` cache, refreshed when the stored certificates change.

    :meth:`listener_context` is the context the TLS socket is created with; it holds no
    certificate of its own, and its SNI callback switches every handshake to the right one.
    """

    mirror_name = "certificate-store"
    #: The name of its copy in the node's snapshot (edge/serving/snapshot.py).
    snapshot_name = "certificates"

    #: Seconds between looks at the change counter.
    poll_interval = 0.25

    def __init__(
        self,
        store: Store,
        *,
        default_domain: str,
        poll_interval: float | None = None,
        snapshot: Snapshot | None = None,
    ) -> None:
        #: Read on connections of this store's own; it is opened and closed with this object.
        self.store = store
        self.snapshot = snapshot
        self.default_domain = default_domain
        if poll_interval is not None:
            self.poll_interval = poll_interval
        #: Every stored certificate that parses and covers its name.
        self._loaded: dict[str, CertificateRecord] = {}
        #: Those presented: the loaded ones but those of domains not served.
        self._records: dict[str, CertificateRecord] = {}
        self._contexts: dict[str, tuple[str, ssl.SSLContext]] = {}
        #: The certificates' and the domains' change counters at the last reload.
        self._version: tuple[int, int] | None = None
        self._listener: ssl.SSLContext | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[CertificateStore]:
        """Open the store, load the certificates, and keep them fresh until the block ends
        (from the saved copy while the store cannot be reached, if there is one)."""
        async with contextlib.AsyncExitStack() as stack:
            try:
                await stack.enter_async_context(self.store)
            except StoreUnavailable:
                if self.snapshot is None:
                    raise
                stack.push_async_callback(self.store.close)  # opened on first use
            await stack.enter_async_context(self.polling())
            yield self

    async def refresh(self, *, force: bool = False) -> bool:
        """Reload when a change counter moved (the certificates' or the domains'); return
        whether it did. The certificates themselves are read again only when theirs moved."""
        async with self.store.reading() as db:
            version = (await db.certificates.version(), await db.domains.version())
            if not force and version == self._version:
                return False
            stored = None
            if force or self._version is None or version[0] != self._version[0]:
                stored = await db.certificates.all()
            withheld = await db.certificates.withheld()
        if stored is not None:
            self._loaded = self._load(stored)
        records = {n: r for n, r in self._loaded.items() if n not in withheld}
        self._records = records
        # Contexts whose certificate was replaced or removed are rebuilt on next use.
        self._contexts = {
            name: entry
            for name, entry in self._contexts.items()
            if name in records and records[name].serial == entry[0]
        }
        self._version = version
        await self._reloaded()
        return True

    def saved(self) -> object:
        return [[r.domain, r.chain_pem, r.key_pem] for r in self._records.values()]

    def restore(self, saved: Any) -> None:
        records = []
        for domain, chain_pem, key_pem in saved:
            try:
                records.append(CertificateRecord.from_pem(domain, chain_pem, key_pem))
            except ValueError as exc:
                log.error("saved certificate for %s ignored: %s", domain, exc)
        self._loaded = self._records = self._load(records)
        self._contexts = {}

    def _load(self, stored: list[CertificateRecord]) -> dict[str, CertificateRecord]:
        """The rows that parse and cover their own name (each checked once per chain)."""
        records: dict[str, CertificateRecord] = {}
        for record in stored:
            known = self._loaded.get(record.domain)
            if known is not None and known.chain_pem == record.chain_pem:
                records[record.domain] = known  # checked when it was first loaded
                continue
            try:
                leaf = x509.load_pem_x509_certificate(record.chain_pem.encode())
            except ValueError as exc:
                # One bad row must not fail start-up and every later poll for all the others.
                log.error(
                    "certificate stored for %s does not parse; ignored: %s", record.domain, exc
                )
                continue
            if not certificate_covers(leaf, record.domain):
                log.error("certificate stored for %s does not cover it; ignored", record.domain)
                continue
            records[record.domain] = record
        return records

    # -- lookups -----------------------------------------------------------------------------

    def get(self, name: str) -> CertificateRecord | None:
        return self._records.get(name)

    def context(self, name: str | None) -> ssl.SSLContext | None:
        """The context for SNI ``name``; the default domain's for no or unknown names."""
        if name is not None:
            name = name.rstrip(".").lower()
        ctx = self._context_exact(name) if name else None
        if ctx is None:
            ctx = self._context_exact(self.default_domain)
        return ctx

    def _context_exact(self, name: str) -> ssl.SSLContext | None:
        record = self._records.get(name)
        if record is None:
            return None
        cached = self._contexts.get(name)
        if cached is not None and cached[0] == record.serial:
            return cached[1]
        try:
            ctx = context_for(record)
        except (ssl.SSLError, OSError) as exc:
            log.error("certificate for %s cannot be loaded: %s", name, exc)
            return None
        self._contexts[name] = (record.serial, ctx)
        return ctx

    def listener_context(self) -> ssl.SSLContext:
        """The context to create the TLS socket with (one per store)."""
        if self._listener is None:
            ctx = server_context()
            ctx.sni_callback = self._sni
            self._listener = ctx
        return self._listener

    def _sni(
        self, sslobj: ssl.SSLObject, server_name: str | None, _ctx: ssl.SSLContext
    ) -> int | None:
        ctx = self.context(server_name)
        if ctx is None:
            # No certificate for this name and none for the default domain: refuse rather
            # than present any other certificate.
            return ssl.ALERT_DESCRIPTION_UNRECOGNIZED_NAME
        sslobj.context = ctx
        return None
