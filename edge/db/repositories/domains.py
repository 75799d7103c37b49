"""``tracking_domains``: customers' tracking domains and their states.

Several accounts may claim one name, each with a row of its own; at most one row per name is
verified (a partial unique index), and that row's account is the name's *owner*: the one the
edge serves the name for and issues its certificate to.
"""

from __future__ import annotations

from collections.abc import Sequence

from edge.db.connection import Connection, Row
from edge.db.repositories.counters import change_counter
from edge.model.domains import CnameStatus, ComplianceStatus, SslStatus, TrackingDomain

COLUMNS = (
    "id, account_id, domain, secure, is_default, cname_status, cname_reason, "
    "compliance_status, ssl_status, created_at, updated_at, checked_at"
)
#: The rows of domains that are served (:func:`edge.model.domains.is_served`), as a view.
SERVED = "served_tracking_domains"


def domain_from_row(row: Row) -> TrackingDomain:
    return TrackingDomain(
        row[0], row[1], row[2], bool(row[3]), bool(row[4]), row[5], row[6], row[7], row[8],
        row[9], row[10], row[11],
    )  # fmt: skip


class DomainRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    async def version(self) -> int:
        """A number that moves whenever any tracking domain changes (a trigger keeps it)."""
        return await change_counter(self.conn, "tracking_domains")

    async def all(self) -> list[TrackingDomain]:
        return await self._many(f"SELECT {COLUMNS} FROM tracking_domains ORDER BY id")

    async def in_account(self, account_id: int) -> list[TrackingDomain]:
        return await self._many(
            f"SELECT {COLUMNS} FROM tracking_domains WHERE account_id = ? ORDER BY id",
            (account_id,),
        )

    async def get(self, domain_id: int) -> TrackingDomain | None:
        return await self._one(f"SELECT {COLUMNS} FROM tracking_domains WHERE id = ?", (domain_id,))

    async def named(self, name: str) -> list[TrackingDomain]:
        """Every account's row for ``name``, the owner's (if any) first."""
        return await self._many(
            f"SELECT {COLUMNS} FROM tracking_domains WHERE domain = ? "
            "ORDER BY cname_status <> ?, id",
            (name, CnameStatus.VALID),
        )

    async def owner(self, name: str) -> TrackingDomain | None:
        """The verified row for ``name``, whatever its compliance: at most one exists."""
        return await self._one(
            f"SELECT {COLUMNS} FROM tracking_domains WHERE domain = ? AND cname_status = ?",
            (name, CnameStatus.VALID),
        )

    async def get_in_account(self, account_id: int, domain_id: int) -> TrackingDomain | None:
        return await self._one(
            f"SELECT {COLUMNS} FROM tracking_domains WHERE id = ? AND account_id = ?",
            (domain_id, account_id),
        )

    async def by_name_in_account(self, account_id: int, name: str) -> TrackingDomain | None:
        return await self._one(
            f"SELECT {COLUMNS} FROM tracking_domains WHERE domain = ? AND account_id = ?",
            (name, account_id),
        )

    async def still_named(self, domain_id: int, name: str) -> TrackingDomain | None:
        """The domain, if it still has ``name`` (not renamed or deleted meanwhile)."""
        return await self._one(
            f"SELECT {COLUMNS} FROM tracking_domains WHERE id = ? AND domain = ?",
            (domain_id, name),
        )

    async def taken_for(self, account_id: int, name: str) -> bool:
        """Whether ``account_id`` may not claim ``name``: another account owns it (verified),
        or this account has it already. Other accounts' unverified claims do not count."""
        row = await self.conn.fetchone(
            "SELECT 1 FROM tracking_domains WHERE domain = ? AND (cname_status = ? OR "
            "account_id = ?)",
            (name, CnameStatus.VALID, account_id),
        )
        return row is not None

    async def blocked(self, name: str) -> bool:
        """Whether the operator has blocked ``name`` (whichever rows claim it now), or a row
        of it is blocked (one renamed to it while blocked)."""
        row = await self.conn.fetchone(
            "SELECT 1 FROM blocked_names WHERE domain = ? UNION ALL "
            "SELECT 1 FROM tracking_domains WHERE domain = ? AND compliance_status = ?",
            (name, name, ComplianceStatus.BLOCKED),
        )
        return row is not None

    async def with_account_names(
        self, account_name: str | None = None
    ) -> list[tuple[str, TrackingDomain]]:
        """``(account name, domain)`` for every domain, or one account's (the operator's list)."""
        sql = (
            f"SELECT a.name, {', '.join('t.' + c.strip() for c in COLUMNS.split(','))} "
            "FROM tracking_domains t JOIN accounts a ON a.id = t.account_id"
        )
        args: tuple[str, ...] = ()
        if account_name is not None:
            sql += " WHERE a.name = ?"
            args = (account_name,)
        rows = await self.conn.fetchall(sql + " ORDER BY t.id", args)
        return [(r[0], domain_from_row(r[1:])) for r in rows]

    async def due_for_recheck(self, checked_before: float) -> list[TrackingDomain]:
        """Verified domains whose CNAME was last checked before ``checked_before``."""
        return await self._many(
            f"SELECT {COLUMNS} FROM tracking_domains WHERE cname_status = ? "
            "AND (checked_at IS NULL OR checked_at <= ?) ORDER BY checked_at",
            (CnameStatus.VALID, checked_before),
        )

    # -- writing ----------------------------------------------------------------------------

    async def insert(self, account_id: int, name: str, *, secure: bool, now: int) -> int:
        row = await self.conn.fetchone(
            "INSERT INTO tracking_domains (account_id, domain, secure, created_at, updated_at) "
            "VALUES (?, ?, ?, ?, ?) RETURNING id",
            (account_id, name, int(secure), now, now),
        )
        assert row is not None
        return int(row[0])

    async def set_flags(
        self, domain_id: int, *, secure: bool | None, default: bool | None, now: int
    ) -> None:
        sets, args = [], []
        if secure is not None:
            sets.append("secure = ?")
            args.append(int(secure))
        if default is not None:
            sets.append("is_default = ?")
            args.append(int(default))
        if sets:
            await self.conn.execute(
                f"UPDATE tracking_domains SET {', '.join(sets)}, updated_at = ? WHERE id = ?",
                (*args, now, domain_id),
            )

    async def clear_default(self, account_id: int, *, except_id: int, now: int) -> None:
        """The account's default moves: no other domain of it stays default."""
        await self.conn.execute(
            "UPDATE tracking_domains SET is_default = 0, updated_at = ? "
            "WHERE account_id = ? AND is_default = 1 AND id <> ?",
            (now, account_id, except_id),
        )

    async def rename(self, domain_id: int, name: str, *, now: int) -> None:
        """A new name must be verified again: verification, default and SSL are reset (a
        blocked domain stays blocked)."""
        await self.conn.execute(
            "UPDATE tracking_domains SET domain = ?, cname_status = ?, cname_reason = NULL, "
            "checked_at = NULL, is_default = 0, ssl_status = ?, updated_at = ?, "
            "compliance_status = CASE compliance_status WHEN ? THEN ? ELSE ? END WHERE id = ?",
            (
                name, CnameStatus.UNVERIFIED, SslStatus.UNAVAILABLE, now,
                ComplianceStatus.BLOCKED, ComplianceStatus.BLOCKED, ComplianceStatus.PENDING,
                domain_id,
            ),
        )  # fmt: skip

    async def delete(self, domain_id: int) -> None:
        await self.conn.execute("DELETE FROM tracking_domains WHERE id = ?", (domain_id,))

    async def mark_pending(self, domain_id: int, *, now: int) -> None:
        await self.conn.execute(
            "UPDATE tracking_domains SET cname_status = ?, updated_at = ? WHERE id = ?",
            (CnameStatus.PENDING, now, domain_id),
        )

    async def lock_name(self, name: str) -> None:
        """Lock every row of ``name`` until the transaction ends, so that two accounts proving
        control at once take turns (SQLite's write transactions take turns anyway)."""
        await self.conn.execute(
            "UPDATE tracking_domains SET updated_at = updated_at WHERE domain = ?", (name,)
        )

    async def take_over(
        self, domain_id: int, name: str, reason: str, *, checked: float, now: int
    ) -> int:
        """Withdraw ``name`` from any other account that had it verified (no longer served,
        default or certified for it): ``domain_id``'s account has proven control now. Returns
        how many rows lost it (0 or 1)."""
        return await self.conn.execute(
            "UPDATE tracking_domains SET cname_status = ?, cname_reason = ?, is_default = 0, "
            "ssl_status = ?, checked_at = ?, updated_at = ? "
            "WHERE domain = ? AND id <> ? AND cname_status = ?",
            (
                CnameStatus.INVALID, reason, SslStatus.UNAVAILABLE, checked, now,
                name, domain_id, CnameStatus.VALID,
            ),
        )  # fmt: skip

    async def mark_valid(self, domain_id: int, reason: str, *, checked: float, now: int) -> None:
        """Verified: a domain still pending compliance becomes valid (a blocked one stays)."""
        await self.conn.execute(
            "UPDATE tracking_domains SET cname_status = ?, cname_reason = ?, checked_at = ?, "
            "updated_at = ?, compliance_status = CASE compliance_status WHEN ? THEN ? "
            "ELSE compliance_status END WHERE id = ?",
            (
                CnameStatus.VALID, reason, checked, now,
                ComplianceStatus.PENDING, ComplianceStatus.VALID, domain_id,
            ),
        )  # fmt: skip

    async def mark_invalid(self, domain_id: int, reason: str, *, checked: float, now: int) -> None:
        """No longer verified, so no longer the default either."""
        await self.conn.execute(
            "UPDATE tracking_domains SET cname_status = ?, cname_reason = ?, is_default = 0, "
            "checked_at = ?, updated_at = ? WHERE id = ?",
            (CnameStatus.INVALID, reason, checked, now, domain_id),
        )

    async def note_check(self, domain_id: int, reason: str, *, checked: float) -> None:
        """A check that failed only for now: the reason is kept, the state is not touched."""
        await self.conn.execute(
            "UPDATE tracking_domains SET cname_reason = ?, checked_at = ? WHERE id = ?",
            (reason, checked, domain_id),
        )

    async def claim_recheck(self, domain_id: int, previous: float | None, now: float) -> bool:
        """Move ``checked_at`` from ``previous`` to ``now``; False if another worker did first."""
        if previous is None:
            changed = await self.conn.execute(
                "UPDATE tracking_domains SET checked_at = ? WHERE id = ? AND checked_at IS NULL",
                (now, domain_id),
            )
        else:
            changed = await self.conn.execute(
                "UPDATE tracking_domains SET checked_at = ? WHERE id = ? AND checked_at = ?",
                (now, domain_id, previous),
            )
        return changed == 1

    async def block_name(self, name: str, *, blocked: bool, now: int) -> None:
        """Record (or lift) the operator's block on ``name``."""
        if blocked:
            await self.conn.execute(
                "INSERT INTO blocked_names (domain, blocked_at) VALUES (?, ?) "
                "ON CONFLICT (domain) DO NOTHING",
                (name, now),
            )
        else:
            await self.conn.execute("DELETE FROM blocked_names WHERE domain = ?", (name,))

    async def set_compliance(self, domain_id: int, *, blocked: bool, now: int) -> None:
        """Block (not served, not default) or unblock: ``valid`` for a verified domain,
        ``pending`` otherwise."""
        if blocked:
            await self.conn.execute(
                "UPDATE tracking_domains SET compliance_status = ?, is_default = 0, "
                "updated_at = ? WHERE id = ?",
                (ComplianceStatus.BLOCKED, now, domain_id),
            )
        else:
            # A row verified while blocked had no certificate requested: it is now (the
            # certificate job takes rows provisioning), as verification would have.
            await self.conn.execute(
                "UPDATE tracking_domains SET compliance_status = CASE cname_status WHEN ? "
                "THEN ? ELSE ? END, ssl_status = CASE WHEN cname_status = ? AND ssl_status = ? "
                "THEN ? ELSE ssl_status END, updated_at = ? WHERE id = ?",
                (
                    CnameStatus.VALID, ComplianceStatus.VALID, ComplianceStatus.PENDING,
                    CnameStatus.VALID, SslStatus.UNAVAILABLE, SslStatus.PROVISIONING, now,
                    domain_id,
                ),
            )  # fmt: skip

    async def set_ssl_status(
        self, domain_id: int, status: SslStatus, *, name: str | None = None, now: int
    ) -> None:
        """Set ``ssl_status``; with ``name``, only while the row still has that name (a
        rename meanwhile reset it already)."""
        if name is None:
            await self.conn.execute(
                "UPDATE tracking_domains SET ssl_status = ?, updated_at = ? WHERE id = ?",
                (status, now, domain_id),
            )
        else:
            await self.conn.execute(
                "UPDATE tracking_domains SET ssl_status = ?, updated_at = ? "
                "WHERE id = ? AND domain = ?",
                (status, now, domain_id, name),
            )

    # -- helpers ----------------------------------------------------------------------------

    async def _one(self, sql: str, args: Sequence[object]) -> TrackingDomain | None:
        row = await self.conn.fetchone(sql, args)
        return domain_from_row(row) if row is not None else None

    async def _many(self, sql: str, args: Sequence[object] = ()) -> list[TrackingDomain]:
        return [domain_from_row(r) for r in await self.conn.fetchall(sql, args)]
