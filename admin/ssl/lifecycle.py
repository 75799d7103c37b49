"""The certificate lifecycle: issue after verification, prove, renew, retry, forget.

:class:`CertificateManager` implements :class:`admin.provisioning.CertificateProvisioner`.
``ssl_status`` moves ``unavailable → provisioning → active``, or ``failed`` with the CA's (or
the HTTPS proof's) reason, retried with exponential backoff. A background job in every worker
looks for due retries and for certificates within ``renew_before`` of expiry (issue 4: 30 days
before, i.e. at 60 of 90 days) and renews them; the TLS listeners pick the new one up from the
database without a restart (:mod:`edge.certs`).

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
from datetime import UTC, datetime, timedelta

from admin.domains.provisioning import SslInfo
from admin.domains.service import SERVED_SQL
from admin.ssl.https_proof import HttpsProof, ProofFailed
from admin.ssl.issuance import CertificateIssuer, IssuanceError
from edge.db.admin import AdminDatabase, fetch_one
from edge.model.certificates import CertificateRecord

log = logging.getLogger("admin.certificates")


class CertificateManager:
    #: Seconds an issuance may hold its lease; an attempt is cut off well before.
    lease_seconds = 300.0
    #: Seconds one issuance may take (ACME orders usually finish in seconds).
    issue_timeout = 180.0

    def __init__(
        self,
        db: AdminDatabase,
        issuer: CertificateIssuer | None,
        proof: HttpsProof | None,
        *,
        default_domain: str | None = None,
        renew_before: timedelta = timedelta(days=30),
        retry_base: float = 60.0,
        retry_max: float = 21600.0,
        check_interval: float = 60.0,
    ) -> None:
        self.db = db
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
        self._running: dict[str, asyncio.Task] = {}
        self._job: asyncio.Task | None = None

    # -- the CertificateProvisioner protocol ----------------------------------------------

    async def provision(self, domain_id: int, *, force: bool = False) -> None:
        row = await self.db.fetchone(
            "SELECT domain, ssl_status FROM tracking_domains WHERE id = ?", (domain_id,)
        )
        if row is None:
            raise LookupError(f"no tracking domain {domain_id}")
        name, status = row
        if not force and status == "active" and not await self._due(name):
            return
        async with self.db.transaction() as conn:
            await conn.execute(
                "UPDATE tracking_domains SET ssl_status = 'provisioning', "
                "updated_at = CAST(strftime('%s', 'now') AS INTEGER) WHERE id = ?",
                (domain_id,),
            )
            await conn.execute(
                "INSERT INTO certificate_jobs (domain) VALUES (?) ON CONFLICT (domain) DO "
                "UPDATE SET attempts = 0, next_attempt_at = 0, reason = NULL",
                (name,),
            )
        self._spawn(name, domain_id, force=force)

    async def forget(self, domain_id: int, name: str) -> None:
        # ``name`` is the name the certificate was for: the caller has already committed the
        # rename or delete, so the row no longer tells it.
        task = self._running.get(name)
        if task is not None:
            task.cancel()  # the issuance for the old name must not run on
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        async with self.db.transaction() as conn:
            await conn.execute(
                "UPDATE tracking_domains SET ssl_status = 'unavailable' "
                "WHERE id = ? AND domain = ?",
                (domain_id, name),
            )
            for table in ("certificates", "certificate_jobs", "acme_challenges"):
                await conn.execute(f"DELETE FROM {table} WHERE domain = ?", (name,))

    async def status(self, domain_id: int) -> SslInfo:
        row = await self.db.fetchone(
            "SELECT d.ssl_status, c.issuer, c.not_before, c.not_after, j.reason "
            "FROM tracking_domains d "
            "LEFT JOIN certificates c ON c.domain = d.domain "
            "LEFT JOIN certificate_jobs j ON j.domain = d.domain WHERE d.id = ?",
            (domain_id,),
        )
        if row is None:
            raise LookupError(f"no tracking domain {domain_id}")
        status, issuer, not_before, not_after, reason = row
        expires = _utc(not_after)
        return SslInfo(
            status=status,
            issuer=issuer,
            not_before=_utc(not_before),
            not_after=expires,
            renew_at=expires - self.renew_before if expires else None,
            reason=reason if status == "failed" else None,
        )

    # -- background work ------------------------------------------------------------------

    async def start(self) -> None:
        self._job = asyncio.create_task(self._loop(), name="certificate-renewals")

    async def stop(self) -> None:
        tasks = [t for t in (self._job, *self._running.values()) if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._job = None

    async def idle(self) -> None:
        """Wait until no issuance started by this process is running (tests use this)."""
        while self._running:
            await asyncio.gather(*self._running.values(), return_exceptions=True)

    async def _loop(self) -> None:
        while True:
            try:
                await self.run_due()
            except Exception:
                log.exception("certificate renewal pass failed")
            await asyncio.sleep(self.check_interval)

    async def run_due(self) -> list[str]:
        """Start every due retry and renewal; return the names started."""
        now = time.time()
        rows = await self.db.fetchall(
            "SELECT d.id, d.domain FROM tracking_domains d "
            "LEFT JOIN certificate_jobs j ON j.domain = d.domain "
            "LEFT JOIN certificates c ON c.domain = d.domain "
            f"WHERE {SERVED_SQL} "
            "AND COALESCE(j.next_attempt_at, 0) <= ? AND COALESCE(j.lease_until, 0) < ? "
            "AND (d.ssl_status IN ('provisioning', 'failed') OR (d.ssl_status = 'active' "
            "     AND ? AND (c.not_after IS NULL OR c.not_after <= ?)))",
            (now, now, self.issuer is not None, now + self.renew_before.total_seconds()),
        )
        started = []
        for domain_id, name in rows:
            if self._spawn(name, domain_id):
                started.append(name)
        default = self.default_domain if self.issuer is not None else None
        if default and await self._default_due(now) and self._spawn(default, None):
            started.append(default)
        return started

    async def _default_due(self, now: float) -> bool:
        row = await self.db.fetchone(
            "SELECT c.not_after, j.next_attempt_at, j.lease_until FROM (SELECT ? AS domain) n "
            "LEFT JOIN certificates c ON c.domain = n.domain "
            "LEFT JOIN certificate_jobs j ON j.domain = n.domain",
            (self.default_domain,),
        )
        not_after, next_attempt, lease = row
        if (next_attempt or 0) > now or (lease or 0) >= now:
            return False
        return not_after is None or not_after <= now + self.renew_before.total_seconds()

    async def _due(self, name: str) -> bool:
        row = await self.db.fetchone("SELECT not_after FROM certificates WHERE domain = ?", (name,))
        return row is None or row[0] <= time.time() + self.renew_before.total_seconds()

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
                await self._finish(name, domain_id, "active", None)
                return
            record = None if force else await self._current(name)
            renewing = record is not None and await self._due(name)
            if record is None or renewing:
                issued = await asyncio.wait_for(self.issuer.issue(name), self.issue_timeout)
                record = CertificateRecord.from_pem(name, issued.chain_pem, issued.key_pem)
                if not await self._save(record, domain_id):
                    await self._release(name)  # renamed, deleted or unverified meanwhile
                    return
                log.info(
                    "certificate for %s issued by %s, serial %s", name, record.issuer, record.serial
                )
            if domain_id is not None and self.proof is not None and not renewing:
                await self.proof.prove(name, record.chain_pem)
            await self._finish(name, domain_id, "active", None)
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
        async with self.db.transaction() as conn:
            await conn.execute(
                "INSERT INTO certificate_jobs (domain) VALUES (?) ON CONFLICT DO NOTHING", (name,)
            )
            cur = await conn.execute(
                "UPDATE certificate_jobs SET lease_owner = ?, lease_until = ? "
                "WHERE domain = ? AND (lease_until < ? OR lease_owner = ?)",
                (self.owner, now + self.lease_seconds, name, now, self.owner),
            )
            return cur.rowcount == 1

    async def _release(self, name: str) -> None:
        async with self.db.transaction() as conn:
            await conn.execute(
                "UPDATE certificate_jobs SET lease_owner = NULL, lease_until = 0 "
                "WHERE domain = ? AND lease_owner = ?",
                (name, self.owner),
            )

    async def _current(self, name: str) -> CertificateRecord | None:
        row = await self.db.fetchone(
            "SELECT chain_pem, key_pem FROM certificates WHERE domain = ?", (name,)
        )
        return CertificateRecord.from_pem(name, row[0], row[1]) if row else None

    async def _save(self, record: CertificateRecord, domain_id: int | None) -> bool:
        async with self.db.transaction() as conn:
            if domain_id is not None:
                row = await fetch_one(
                    conn,
                    "SELECT 1 FROM tracking_domains WHERE id = ? AND domain = ? "
                    "AND cname_status = 'valid'",
                    (domain_id, record.domain),
                )
                if row is None:
                    return False
            await conn.execute(
                "INSERT INTO certificates (domain, chain_pem, key_pem, serial, issuer, "
                "not_before, not_after) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (domain) DO "
                "UPDATE SET chain_pem = excluded.chain_pem, key_pem = excluded.key_pem, "
                "serial = excluded.serial, issuer = excluded.issuer, "
                "not_before = excluded.not_before, not_after = excluded.not_after, "
                "updated_at = CAST(strftime('%s', 'now') AS INTEGER)",
                (
                    record.domain,
                    record.chain_pem,
                    record.key_pem,
                    record.serial,
                    record.issuer,
                    int(record.not_before.timestamp()),
                    int(record.not_after.timestamp()),
                ),
            )
        return True

    async def _finish(
        self, name: str, domain_id: int | None, status: str, reason: str | None
    ) -> None:
        async with self.db.transaction() as conn:
            await conn.execute(
                "UPDATE certificate_jobs SET lease_owner = NULL, lease_until = 0, attempts = 0, "
                "next_attempt_at = 0, reason = NULL WHERE domain = ? AND lease_owner = ?",
                (name, self.owner),
            )
            if domain_id is not None:
                await self._set_status(conn, domain_id, name, status)

    async def _fail(self, name: str, domain_id: int | None, reason: str) -> None:
        log.warning("certificate for %s: %s", name, reason)
        async with self.db.transaction() as conn:
            row = await fetch_one(
                conn, "SELECT attempts FROM certificate_jobs WHERE domain = ?", (name,)
            )
            attempts = (row[0] if row else 0) + 1
            delay = min(self.retry_base * 2 ** (attempts - 1), self.retry_max)
            await conn.execute(
                "UPDATE certificate_jobs SET lease_owner = NULL, lease_until = 0, attempts = ?, "
                "next_attempt_at = ?, reason = ? WHERE domain = ? AND lease_owner = ?",
                (attempts, time.time() + delay, reason, name, self.owner),
            )
            if domain_id is not None:
                # A renewal that failed leaves a still-valid certificate served: the domain
                # stays active, and the job retries; only a missing or expired one is failed.
                cert = await fetch_one(
                    conn, "SELECT not_after FROM certificates WHERE domain = ?", (name,)
                )
                row = await fetch_one(
                    conn, "SELECT ssl_status FROM tracking_domains WHERE id = ?", (domain_id,)
                )
                still_good = cert is not None and cert[0] > time.time()
                if not (row and row[0] == "active" and still_good):
                    await self._set_status(conn, domain_id, name, "failed")

    @staticmethod
    async def _set_status(conn, domain_id: int, name: str, status: str) -> None:
        # Only while the row still has this name: a rename meanwhile reset it already.
        await conn.execute(
            "UPDATE tracking_domains SET ssl_status = ?, "
            "updated_at = CAST(strftime('%s', 'now') AS INTEGER) WHERE id = ? AND domain = ?",
            (status, domain_id, name),
        )


def _utc(seconds: int | None) -> datetime | None:
    return datetime.fromtimestamp(seconds, UTC) if seconds is not None else None
