"""``message_labels``: a message's campaign and tags."""

from __future__ import annotations

from edge.db.connection import Connection
from edge.model.labels import LabelKind, MessageLabels


def labelled(account_id: int | None, kind: str, label: str) -> tuple[str, list[object]]:
    """A filter on ``message``: the account's messages carrying ``label`` as ``kind`` (the
    events' and the roll-ups' filter by campaign or tag)."""
    return (
        "message IN (SELECT message FROM message_labels "
        "WHERE account_id = ? AND kind = ? AND label = ?)",
        [account_id, kind, label],
    )


class LabelRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    async def get(self, account_id: int, message: str) -> MessageLabels:
        rows = await self.conn.fetchall(
            "SELECT kind, label FROM message_labels WHERE account_id = ? AND message = ? "
            "ORDER BY kind, label",
            (account_id, message),
        )
        campaign = next((label for kind, label in rows if kind == LabelKind.CAMPAIGN), None)
        tags = tuple(label for kind, label in rows if kind == LabelKind.TAG)
        return MessageLabels(message, campaign, tags)

    async def replace(self, account_id: int, labels: MessageLabels) -> None:
        """The message's labels become exactly ``labels`` (duplicate tags kept once)."""
        await self.conn.execute(
            "DELETE FROM message_labels WHERE account_id = ? AND message = ?",
            (account_id, labels.message),
        )
        rows = [(LabelKind.TAG, t) for t in dict.fromkeys(labels.tags)]
        if labels.campaign is not None:
            rows.append((LabelKind.CAMPAIGN, labels.campaign))
        await self.conn.executemany(
            "INSERT INTO message_labels (account_id, kind, label, message) VALUES (?, ?, ?, ?)",
            [(account_id, kind, label, labels.message) for kind, label in rows],
        )
