"""``job_leases``: a cluster-wide job runs on one node per interval.

Every node runs the same background jobs (re-checking domains, renewing certificates,
pruning events); before a run, a node takes the job's lease for the interval. The node that
gets it runs the job; the others skip this turn. A node that dies holding a lease loses it
when the interval is over.
"""

from __future__ import annotations

from edge.db.connection import Connection


class LeaseRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    async def take(self, name: str, owner: str, *, now: float, until: float) -> bool:
        """Lease ``name`` to ``owner`` until ``until`` unless another owner's lease runs past
        ``now``; returns whether ``owner`` holds it."""
        row = await self.conn.fetchone(
            "INSERT INTO job_leases (name, owner, until) VALUES (?, ?, ?) "
            "ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, until = excluded.until "
            "WHERE job_leases.until <= ? OR job_leases.owner = excluded.owner RETURNING owner",
            (name, owner, until, now),
        )
        return row is not None
