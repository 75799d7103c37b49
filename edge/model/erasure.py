"""Erased recipients: what is kept of an erasure, and the rule that keeps it erased.

An erasure (``DELETE /api/v1/engagement/recipients/{recipient}``) deletes an account's raw
events of one recipient, the unique keys they opened and their queued webhook deliveries; the
roll-ups keep their counts, which name no recipient. Events served *before* the erasure may
still be on their way (in a serving process's spool, or in an ingest batch already read), so
each erasure leaves a record: the account, a SHA-256 digest of the recipient reference (never
the reference itself), and the time. An event of that account and reference served at or
before that time is dropped when it reaches the store (:meth:`ErasedRecipients.keep`). An
event served after the erasure is new engagement and is recorded as usual; erasing again
moves the time on.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from edge.model.events import STORED_FIELDS

_ACCOUNT = STORED_FIELDS.index("account_id")
_RECIPIENT = STORED_FIELDS.index("recipient")
_TS = STORED_FIELDS.index("ts_ms")


def recipient_digest(reference: str) -> str:
    """What an erasure record holds of a recipient reference: its SHA-256, in hex."""
    return hashlib.sha256(reference.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Erasure:
    """One erased recipient reference of one account, as stored."""

    account_id: int
    digest: str
    erased_ms: int


@dataclass(frozen=True, slots=True)
class ErasureCounts:
    """What one erasure deleted (all zero when it is repeated)."""

    events: int
    unique_keys: int
    webhook_deliveries: int


@dataclass(slots=True)
class ErasedRecipients:
    """Erasures by account, to drop the rows of events served before them."""

    by_account: dict[int, dict[str, int]] = field(default_factory=dict)

    @classmethod
    def of(cls, erasures: Iterable[Erasure]) -> ErasedRecipients:
        erased = cls()
        for e in erasures:
            erased.by_account.setdefault(e.account_id, {})[e.digest] = e.erased_ms
        return erased

    def __bool__(self) -> bool:
        return bool(self.by_account)

    def covers(self, account_id: int, recipient: str | None, ts_ms: int) -> bool:
        """Whether an event of ``recipient`` served at ``ts_ms`` was erased."""
        digests = self.by_account.get(account_id)
        if not digests or recipient is None:
            return False
        erased_ms = digests.get(recipient_digest(recipient))
        return erased_ms is not None and ts_ms <= erased_ms

    def keep(self, rows: Sequence[Sequence[object]]) -> list[Sequence[object]]:
        """The rows (:data:`~edge.model.events.STORED_FIELDS` order) that were not erased."""
        return [
            r
            for r in rows
            if not self.covers(r[_ACCOUNT], r[_RECIPIENT], r[_TS])  # type: ignore[arg-type]
        ]
