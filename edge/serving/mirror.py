"""In-memory copies of database rows, kept fresh by polling a change counter.

The domain table and the certificate store both answer every request from memory and reload
when a trigger-maintained counter in the database moves. :class:`Mirror` is that shared part:
the poll (a :class:`~edge.periodic.Periodic` for as long as :meth:`Mirror.polling` is
entered), the copy kept on disk for a start without the database
(:mod:`edge.serving.snapshot`), and a way for tests to await the next reload.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

from edge.db.store import StoreUnavailable
from edge.periodic import Periodic
from edge.serving.snapshot import Snapshot

log = logging.getLogger("edge.mirror")


class Mirror:
    """Base for a copy that :meth:`refresh` reloads; polled every ``poll_interval`` seconds.

    Subclasses implement ``refresh(force=False) -> bool`` and await :meth:`_reloaded` after
    a reload. A failed poll is logged and the last good copy keeps being served. With a
    :attr:`snapshot`, subclasses also implement :meth:`saved` and :meth:`restore`.
    """

    #: Seconds between polls of the change counter.
    poll_interval = 0.25
    #: Names the poll task and its log lines.
    mirror_name = "mirror"

    #: Where each copy loaded is saved, and read back from when the store cannot be reached
    #: at start; ``None``: not kept.
    snapshot: Snapshot | None = None

    _changed: asyncio.Event | None = None

    async def refresh(self, *, force: bool = False) -> bool:
        raise NotImplementedError

    def saved(self) -> object:
        """The copy as :attr:`snapshot` keeps it (JSON types)."""
        raise NotImplementedError

    def restore(self, saved: Any) -> None:
        """Serve ``saved`` (from :meth:`saved`), until the next reload from the store."""
        raise NotImplementedError

    @contextlib.asynccontextmanager
    async def polling(self) -> AsyncIterator[None]:
        """Load the copy now (the saved one if the store cannot be reached and there is
        one), then keep it fresh in the background until the block ends."""
        try:
            await self.refresh(force=True)
        except StoreUnavailable as exc:
            snapshot = self.snapshot
            saved = snapshot.load() if snapshot is not None else None
            if snapshot is None or saved is None:
                raise
            try:
                self.restore(saved)
            except (KeyError, TypeError, ValueError) as bad:  # not a copy this version wrote
                log.error(
                    "%s: the copy in %s cannot be used: %r", self.mirror_name, snapshot.path, bad
                )
                raise exc from None
            log.warning(
                "%s: the database cannot be reached (%s); serving the copy saved in %s until "
                "it can",
                self.mirror_name,
                exc,
                snapshot.path,
            )
        async with Periodic(
            self.mirror_name, self.refresh, interval=self.poll_interval, delay=self.poll_interval
        ):
            yield

    async def wait_changed(self) -> None:
        """Wait for the next reload (tests await this instead of sleeping)."""
        if self._changed is None:
            self._changed = asyncio.Event()
        await self._changed.wait()

    async def _reloaded(self) -> None:
        if self.snapshot is not None:
            # Off the event loop: the write ends with an fsync, and requests are waiting.
            await asyncio.to_thread(self.snapshot.save, self.saved())
        if self._changed is not None:
            self._changed.set()
        self._changed = asyncio.Event()
