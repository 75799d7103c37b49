"""The certificate lifecycle: issue after verification, prove, renew, retry, forget.

:class:`CertificateManager` implements :class:`admin.domains.provisioning.CertificateProvisioner`.
``ssl_status`` moves ``unavailable → provisioning → active``, or ``failed`` with the CA's (or
the HTTPS proof's) reason, retried with exponential backoff. A background job in every worker
looks for due retries and for certificates within ``renew_before`` of expiry (issue 4: 30 days
before, i.e. at 60 of 90 days) and renews them; the TLS listeners pick the new one up from the
database without a restart (:mod:`edge.serving.certificates`). Only served domains are
issued for and renewed (the ``served_tracking_domains`` view): a blocked domain keeps its
certificate, not presented, and is renewed again once unblocked if it is due by then.

One issuance per host name at a time, across worker processes: an attempt first takes a lease
in ``certificate_jobs`` with a conditional ``UPDATE`` (SQLite serialises writers); a process
that crashed mid-issuance loses its lease when it expires, and the job takes the name up again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta

from admin.domains.provisioning import SslInfo
from admin.ssl.https_proof import HttpsProof, ProofFailed
from admin.ssl.issuance import CertificateIssuer, IssuanceError
from edge.db.store import Store
from edge.model.certificates import CertificateRecord
from edge.model.domains import SslStatus
from edge.periodic import Periodic, once_per_cluster

log = logging.getLogger("admin.certificates")


class CertificateManager:
    #: Seconds an issuance may hold its lease; an attempt is cut off well before.
    lease_seconds = 300.0
    #: Seconds one issuance may take (ACME orders usually finish in seconds).
    issue_timeout = 180.0

    def __init__(
        self,
        store: Store,
        issuer: CertificateIssuer | None,
        proof: HttpsProof | None,
        *,
        default_domain: str | None = None,
        renew_before: timedelta = timedelta(days=30),
        retry_base: float = 60.0,
        retry_max: float = 21600.0,
        check_interval: float = 60.0,
    ) -> None:
        self.store = store
        #: ``None`` when TLS is terminated in front (``EDGE_TLS=external``): a domain is then
        #: only proven over HTTPS, never issued for, and nothing is renewed here.
        self.issuer = issuer
        self.proof = proof
        #: The platform's own domain: kept with a certificate, without an ``ssl_status``.
        self.default_domain = default_domain
        self.renew_before = renew_before
        self.retry_base = retry_base
        self.retry_max = retry_max
        self.check_interval = check_interval
        self.owner = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self._running: dict[str, asyncio.Task[None]] = {}

    # -- the CertificateProvisioner protocol ----------------------------------------------

    async def provision(self, domain_id: int, *, force: bool = False) -> None:
        async with self.store.reading() as db:
            found = await db.domains.get(domain_id)
        if found is None:
            raise LookupError(f"no tracking domain {domain_id}")
        name = found.domain
        if not force and found.ssl_status == SslStatus.ACTIVE and not await self._due(name):
            return
        async with self.store.transaction() as tx:
            await tx.domains.set_ssl_status(domain_id, SslStatus.PROVISIONING, now=_now())
            await tx.certificates.restart_job(name)
        self._spawn(name, domain_id, force=force)

    async def forget(self, domain_id: int, name: str) -> None:
        # ``name`` is the name the certificate was for: the caller has already committed the
        # rename or delete, so the row no longer tells it.
        task = self._running.get(name)
        if task is not None:
            task.cancel()  # the issuance for the old name must not run on
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        async with self.store.transaction() as tx:
            await tx.domains.set_ssl_status(
                domain_id, SslStatus.UNAVAILABLE, name=name, now=_now()
            )
            await tx.certificates.forget(name)

    async def status(self, domain_id: int) -> SslInfo:
        async with self.store.reading() as db:
            row = await db.certificates.ssl_of(domain_id)
        if row is None:
            raise LookupError(f"no tracking domain {domain_id}")
        expires = row.not_after
        return SslInfo(
            status=row.status,
            issuer=row.issuer,
            not_before=row.not_before,
            not_after=expires,
            renew_at=expires - self.renew_before if expires else None,
            reason=row.reason if row.status == SslStatus.FAILED else None,
        )

    # -- background work ------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[CertificateManager]:
        """Look for due retries and renewals every ``check_interval`` seconds while entered;
        on the way out, stop the issuances this process started."""
        try:
            renewals = once_per_cluster(
                self.store, "certificate-renewals", self.run_due, interval=self.check_interval
            )
            async with Periodic("certificate-renewals", renewals, interval=self.check_interval):
                yield self
        finally:
            await self.stop()

    async def stop(self) -> None:
        """Cancel the issuances this process started (their leases are given back)."""
        tasks = list(self._running.values())
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    async def idle(self) -> None:
        """Wait until no issuance started by this process is running (tests use this)."""
        while self._running:
            await asyncio.gather(*self._running.values(), return_exceptions=True)

    async def run_due(self) -> list[str]:
        """Start every due retry and renewal; return the names started."""
        now = time.time()
        renew = self.renew_before.total_seconds()
        async with self.store.reading() as db:
            # Nothing is renewed here when TLS is terminated in front (no issuer).
            due = await db.certificates.due(
                now, renew_before_expiry=renew if self.issuer is not None else None
            )
            default = self.default_domain if self.issuer is not None else None
            default_times = await db.certificates.job_times(default) if default else None
        started = []
        for domain_id, name in due:
            if self._spawn(name, domain_id):
                started.append(name)
        if default and default_times is not None:
            times = default_times
            if (
                times.next_attempt_at <= now
                and times.lease_until < now
                and (times.not_after is None or times.not_after <= now + renew)
                and self._spawn(default, None)
            ):
                started.append(default)
        return started

    async def _due(self, name: str) -> bool:
        async with self.store.reading() as db:
            not_after = await db.certificates.expires_at(name)
        return not_after is None or not_after <= time.time() + self.renew_before.total_seconds()

    def _spawn(self, name: str, domain_id: int | None, *, force: bool = False) -> bool:
        if name in self._running:
            return False
        task = asyncio.create_task(self._attempt(name, domain_id, force), name=f"issue {name}")
        self._running[name] = task
        task.add_done_callback(
            lambda t: self._running.pop(name) if self._running.get(name) is t else None
        )
        return True

    # -- one attempt ----------------------------------------------------------------------

    async def _attempt(self, name: str, domain_id: int | None, force: bool) -> None:
        if not await self._take_lease(name):
            return  # another process is issuing for this name; it reports the outcome
        try:
            if self.issuer is None:
                if domain_id is not None and self.proof is not None:
                    await self.proof.prove(name, None)
                await self._finish(name, domain_id, SslStatus.ACTIVE, None)
                return
            record = None if force else await self._current(name)
            renewing = record is not None and await self._due(name)
            if record is None or renewing:
                issued = await asyncio.wait_for(self.issuer.issue(name), self.issue_timeout)
                record = CertificateRecord.from_pem(name, issued.chain_pem, issued.key_pem)
                if not await self._save(record, domain_id):
                    await self._release(name)  # renamed, deleted, unverified or blocked
                    return
                log.info(
                    "certificate for %s issued by %s, serial %s", name, record.issuer, record.serial
                )
            if domain_id is not None and self.proof is not None and not renewing:
                await self.proof.prove(name, record.chain_pem)
            await self._finish(name, domain_id, SslStatus.ACTIVE, None)
        except (IssuanceError, ProofFailed) as exc:
            await self._fail(name, domain_id, exc.reason)
        except TimeoutError:
            await self._fail(name, domain_id, f"no certificate within {self.issue_timeout:.0f} s")
        except ValueError as exc:  # the CA's certificate does not cover the name
            await self._fail(name, domain_id, str(exc))
        except asyncio.CancelledError:
            await asyncio.shield(self._release(name))
            raise
        except Exception as exc:
            log.exception("issuing a certificate for %s failed", name)
            await self._fail(name, domain_id, f"internal error: {type(exc).__name__}")

    async def _take_lease(self, name: str) -> bool:
        now = time.time()
        async with self.store.transaction() as tx:
            return await tx.certificates.take_lease(
                name, self.owner, until=now + self.lease_seconds, now=now
            )

    async def _release(self, name: str) -> None:
        async with self.store.transaction() as tx:
            await tx.certificates.release_lease(name, self.owner)

    async def _current(self, name: str) -> CertificateRecord | None:
        async with self.store.reading() as db:
            stored = await db.certificates.get(name)
        if stored is None:
            return None
        return CertificateRecord.from_pem(name, stored.chain_pem, stored.key_pem)

    async def _save(self, record: CertificateRecord, domain_id: int | None) -> bool:
        async with self.store.transaction() as tx:
            if domain_id is not None:
                current = await tx.domains.still_named(domain_id, record.domain)
                if current is None or not current.served:  # blocked meanwhile, too
                    return False
            await tx.certificates.save(record, now=_now())
        return True

    async def _finish(
        self, name: str, domain_id: int | None, status: SslStatus, reason: str | None
    ) -> None:
        async with self.store.transaction() as tx:
            await tx.certificates.job_succeeded(name, self.owner)
            if domain_id is not None:
                # Only while the row still has this name: a rename meanwhile reset it already.
                await tx.domains.set_ssl_status(domain_id, status, name=name, now=_now())

    async def _fail(self, name: str, domain_id: int | None, reason: str) -> None:
        log.warning("certificate for %s: %s", name, reason)
        async with self.store.transaction() as tx:
            attempts = await tx.certificates.attempts(name) + 1
            delay = min(self.retry_base * 2 ** (attempts - 1), self.retry_max)
            await tx.certificates.job_failed(
                name, self.owner, attempts=attempts, next_attempt_at=time.time() + delay,
                reason=reason,
            )  # fmt: skip
            if domain_id is not None:
                # A renewal that failed leaves a still-valid certificate served: the domain
                # stays active, and the job retries; only a missing or expired one is failed.
                expires = await tx.certificates.expires_at(name)
                current = await tx.domains.get(domain_id)
                still_good = expires is not None and expires > time.time()
                if not (current and current.ssl_status == SslStatus.ACTIVE and still_good):
                    await tx.domains.set_ssl_status(
                        domain_id, SslStatus.FAILED, name=name, now=_now()
                    )


def _now() -> int:
    return int(time.time())
