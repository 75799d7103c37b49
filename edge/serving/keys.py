"""Which secrets sign and verify tokens on this node."""

from __future__ import annotations

import secrets

from edge.config import Settings
from edge.db.store import Store
from edge.tokens.codec import load_secret_keys


async def signing_keys(settings: Settings, store: Store) -> list[str]:
    """``EDGE_SECRET_KEYS``; else the generated secret: the cluster's, kept in its database
    (so that a link made by any node or by the command line verifies on every node), or this
    machine's, kept in ``<data dir>/secret_keys``."""
    if settings.secret_keys:
        return list(settings.secret_keys)
    if settings.database_url:
        async with store.transaction() as tx:
            return await tx.signing_keys.ensure(secrets.token_urlsafe(32))
    return load_secret_keys((), settings.data_dir)
