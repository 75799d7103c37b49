"""Which secrets sign and verify tokens on this node."""

from __future__ import annotations

import asyncio
import logging
import secrets

from edge.config import Settings
from edge.db.store import Store, StoreUnavailable
from edge.serving.snapshot import snapshot
from edge.tokens.codec import TokenCodec, load_secret_keys

log = logging.getLogger("edge.keys")


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


class NodeKeys:
    """Puts this node's keys into its codec at start: :func:`signing_keys`, or, while the
    shared database cannot be reached, the copy saved when they were last read from it
    (:mod:`edge.serving.snapshot`; keys given in ``EDGE_SECRET_KEYS`` are never saved)."""

    #: The name of the keys' copy in the node's snapshot.
    snapshot_name = "signing-keys"

    def __init__(self, settings: Settings, store: Store, codec: TokenCodec) -> None:
        self.settings = settings
        self.store = store
        self.codec = codec
        self.snapshot = None if settings.secret_keys else snapshot(settings, self.snapshot_name)
        #: The codec holds the saved copy: :meth:`load` again once the database answers.
        self.from_snapshot = False
        self._loaded = False

    async def load(self) -> None:
        """Load the keys (a no-op once read from the store). Raises
        :class:`~edge.db.store.StoreUnavailable` while the store cannot be reached and
        there is no saved copy, or the saved copy is served already."""
        if self._loaded:
            return
        try:
            keys = await signing_keys(self.settings, self.store)
        except StoreUnavailable as exc:
            if self.from_snapshot or self.snapshot is None:
                raise
            saved = _keys(self.snapshot.load())
            if saved is None:
                raise
            self.codec.rekey(saved)
            self.from_snapshot = True
            log.warning(
                "the database cannot be reached (%s); signing and verifying with the keys "
                "saved in %s",
                exc,
                self.snapshot.path,
            )
            return
        self.codec.rekey(keys)
        self._loaded, self.from_snapshot = True, False
        if self.snapshot is not None:
            await asyncio.to_thread(self.snapshot.save, keys)


def _keys(saved: object) -> list[str] | None:
    """``saved`` if it is a list of keys as :meth:`NodeKeys.load` saves them."""
    if isinstance(saved, list) and saved and all(isinstance(k, str) for k in saved):
        return saved
    return None
