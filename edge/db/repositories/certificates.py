"""``certificates`` (per host name) and ``certificate_jobs`` (issuance leases and retries)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from edge.db.connection import Connection, Row
from edge.db.repositories.counters import change_counter
from edge.db.repositories.domains import SERVED
from edge.model.certificates import CertificateRecord
from edge.model.domains import SslStatus

_CERT_COLUMNS = "domain, chain_pem, key_pem, serial, issuer, not_before, not_after"


@dataclass(frozen=True, slots=True)
class SslRow:
    """A domain's SSL state with its certificate's dates and its last failure, if any."""

    status: str
    issuer: str | None
    not_before: datetime | None
    not_after: datetime | None
    reason: str | None


@dataclass(frozen=True, slots=True)
class JobTimes:
    """When a name's certificate expires and its job may next run (seconds; 0/None: never)."""

    not_after: int | None
    next_attempt_at: float
    lease_until: float


def _utc(seconds: int | None) -> datetime | None:
    return datetime.fromtimestamp(seconds, UTC) if seconds is not None else None


def _record(row: Row) -> CertificateRecord:
    not_before, not_after = (datetime.fromtimestamp(s, UTC) for s in (row[5], row[6]))
    return CertificateRecord(row[0], row[1], row[2], row[3], row[4], not_before, not_after)


class CertificateRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    # -- certificates ------------------------------------------------------------------------

    async def version(self) -> int:
        """Moves whenever a certificate is stored, renewed or dropped (a trigger keeps it)."""
        return await change_counter(self.conn, "certificates")

    async def all(self) -> list[CertificateRecord]:
        return [
            _record(r)
            for r in await self.conn.fetchall(f"SELECT {_CERT_COLUMNS} FROM certificates")
        ]

    async def withheld(self) -> set[str]:
        """Names with a stored certificate that must not be presented: their tracking domain
        is not served (blocked, or no longer verified). The certificate is kept, so that the
        domain is presented again at once when it is served again."""
        # Several accounts may claim a name: it is withheld when none of them is served (its
        # owner's row is, if any), never because of another account's unverified claim. A
        # name no tracking domain has (the default domain's) is not a tracking domain's.
        rows = await self.conn.fetchall(
            "SELECT c.domain FROM certificates c WHERE EXISTS (SELECT 1 FROM tracking_domains t "
            f"WHERE t.domain = c.domain) AND NOT EXISTS (SELECT 1 FROM {SERVED} s "
            "WHERE s.domain = c.domain)"
        )
        return {r[0] for r in rows}

    async def get(self, name: str) -> CertificateRecord | None:
        row = await self.conn.fetchone(
            f"SELECT {_CERT_COLUMNS} FROM certificates WHERE domain = ?", (name,)
        )
        return _record(row) if row is not None else None

    async def expires_at(self, name: str) -> int | None:
        """``not_after`` of the stored certificate, in seconds; ``None`` without one."""
        row = await self.conn.fetchone(
            "SELECT not_after FROM certificates WHERE domain = ?", (name,)
        )
        return int(row[0]) if row is not None else None

    async def save(self, record: CertificateRecord, *, now: int) -> None:
        await self.conn.execute(
            f"INSERT INTO certificates ({_CERT_COLUMNS}, updated_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (domain) DO UPDATE SET "
            "chain_pem = excluded.chain_pem, key_pem = excluded.key_pem, "
            "serial = excluded.serial, issuer = excluded.issuer, "
            "not_before = excluded.not_before, not_after = excluded.not_after, "
            "updated_at = excluded.updated_at",
            (
                record.domain,
                record.chain_pem,
                record.key_pem,
                record.serial,
                record.issuer,
                int(record.not_before.timestamp()),
                int(record.not_after.timestamp()),
                now,
            ),
        )

    async def forget(self, name: str) -> None:
        """Drop the certificate, the job and pending challenges of ``name``."""
        for table in ("certificates", "certificate_jobs", "acme_challenges"):
            await self.conn.execute(f"DELETE FROM {table} WHERE domain = ?", (name,))

    async def ssl_of(self, domain_id: int) -> SslRow | None:
        # Certificates are per name: a row that has none of its own (``unavailable``: another
        # account's claim on a name, or a row the name was taken from) shows none.
        row = await self.conn.fetchone(
            "SELECT d.ssl_status, c.issuer, c.not_before, c.not_after, j.reason "
            "FROM tracking_domains d "
            "LEFT JOIN certificates c ON c.domain = d.domain AND d.ssl_status <> ? "
            "LEFT JOIN certificate_jobs j ON j.domain = d.domain AND d.ssl_status <> ? "
            "WHERE d.id = ?",
            (SslStatus.UNAVAILABLE, SslStatus.UNAVAILABLE, domain_id),
        )
        if row is None:
            return None
        return SslRow(row[0], row[1], _utc(row[2]), _utc(row[3]), row[4])

    # -- jobs ---------------------------------------------------------------------------------

    async def due(self, now: float, *, renew_before_expiry: float | None) -> list[tuple[int, str]]:
        """``(id, name)`` of served domains whose issuance is due: provisioning or failed and
        past their retry time, or (``renew_before_expiry`` seconds given) active with a
        certificate that expires within that time; none whose job is leased."""
        renewals = ""
        args: list[object] = [now, now, SslStatus.PROVISIONING, SslStatus.FAILED]
        if renew_before_expiry is not None:
            renewals = " OR (d.ssl_status = ? AND (c.not_after IS NULL OR c.not_after <= ?))"
            args += [SslStatus.ACTIVE, now + renew_before_expiry]
        rows = await self.conn.fetchall(
            f"SELECT d.id, d.domain FROM {SERVED} d "
            "LEFT JOIN certificate_jobs j ON j.domain = d.domain "
            "LEFT JOIN certificates c ON c.domain = d.domain "
            "WHERE COALESCE(j.next_attempt_at, 0) <= ? AND COALESCE(j.lease_until, 0) < ? "
            f"AND (d.ssl_status IN (?, ?){renewals})",
            args,
        )
        return [(int(r[0]), r[1]) for r in rows]

    async def job_times(self, name: str) -> JobTimes:
        row = await self.conn.fetchone(
            "SELECT (SELECT not_after FROM certificates WHERE domain = ?), "
            "(SELECT next_attempt_at FROM certificate_jobs WHERE domain = ?), "
            "(SELECT lease_until FROM certificate_jobs WHERE domain = ?)",
            (name, name, name),
        )
        assert row is not None
        return JobTimes(row[0], row[1] or 0.0, row[2] or 0.0)

    async def restart_job(self, name: str) -> None:
        """A new issuance is asked for: attempts and backoff start again."""
        await self.conn.execute(
            "INSERT INTO certificate_jobs (domain) VALUES (?) ON CONFLICT (domain) DO "
            "UPDATE SET attempts = 0, next_attempt_at = 0, reason = NULL",
            (name,),
        )

    async def take_lease(self, name: str, owner: str, *, until: float, now: float) -> bool:
        """Lease ``name``'s job to ``owner`` unless someone else holds a live lease."""
        await self.conn.execute(
            "INSERT INTO certificate_jobs (domain) VALUES (?) ON CONFLICT DO NOTHING", (name,)
        )
        changed = await self.conn.execute(
            "UPDATE certificate_jobs SET lease_owner = ?, lease_until = ? "
            "WHERE domain = ? AND (lease_until < ? OR lease_owner = ?)",
            (owner, until, name, now, owner),
        )
        return changed == 1

    async def release_lease(self, name: str, owner: str) -> None:
        await self.conn.execute(
            "UPDATE certificate_jobs SET lease_owner = NULL, lease_until = 0 "
            "WHERE domain = ? AND lease_owner = ?",
            (name, owner),
        )

    async def job_succeeded(self, name: str, owner: str) -> None:
        await self.conn.execute(
            "UPDATE certificate_jobs SET lease_owner = NULL, lease_until = 0, attempts = 0, "
            "next_attempt_at = 0, reason = NULL WHERE domain = ? AND lease_owner = ?",
            (name, owner),
        )

    async def attempts(self, name: str) -> int:
        row = await self.conn.fetchone(
            "SELECT attempts FROM certificate_jobs WHERE domain = ?", (name,)
        )
        return int(row[0]) if row is not None else 0

    async def job_failed(
        self, name: str, owner: str, *, attempts: int, next_attempt_at: float, reason: str
    ) -> None:
        await self.conn.execute(
            "UPDATE certificate_jobs SET lease_owner = NULL, lease_until = 0, attempts = ?, "
            "next_attempt_at = ?, reason = ? WHERE domain = ? AND lease_owner = ?",
            (attempts, next_attempt_at, reason, name, owner),
        )
