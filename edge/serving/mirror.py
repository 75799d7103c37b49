"""In-memory copies of database rows, kept fresh by polling a change counter.

The domain table and the certificate store both answer every request from memory and reload
when a trigger-maintained counter in the database moves. :class:`Mirror` is that shared part:
the poll (a :class:`~edge.periodic.Periodic` for as long as :meth:`Mirror.polling` is
entered), and a way for tests to await the next reload.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from edge.periodic import Periodic


class Mirror:
    """Base for a copy that :meth:`refresh` reloads; polled every ``poll_interval`` seconds.

    Subclasses implement ``refresh(force=False) -> bool`` and call :meth:`_reloaded` after
    a reload. A failed poll is logged and the last good copy keeps being served.
    """

    #: Seconds between polls of the change counter.
    poll_interval = 0.25
    #: Names the poll task and its log lines.
    mirror_name = "mirror"

    _changed: asyncio.Event | None = None

    async def refresh(self, *, force: bool = False) -> bool:
        raise NotImplementedError

    @contextlib.asynccontextmanager
    async def polling(self) -> AsyncIterator[None]:
        """Load the copy now, then keep it fresh in the background until the block ends."""
        await self.refresh(force=True)
        async with Periodic(
            self.mirror_name, self.refresh, interval=self.poll_interval, delay=self.poll_interval
        ):
            yield

    async def wait_changed(self) -> None:
        """Wait for the next reload (tests await this instead of sleeping)."""
        if self._changed is None:
            self._changed = asyncio.Event()
        await self._changed.wait()

    def _reloaded(self) -> None:
        if self._changed is not None:
            self._changed.set()
        self._changed = asyncio.Event()
