"""The webhook queue on PostgreSQL: several nodes lease batches at once."""

from __future__ import annotations

from edge.db.repositories.webhooks import WebhookRepository


class PostgresWebhooks(WebhookRepository):
    # Two nodes leasing the same endpoint's queue take different rows instead of the second
    # waiting for the first and then finding them leased.
    lease_rows_lock = " FOR UPDATE SKIP LOCKED"
