"""In-memory copies of database rows, kept fresh by polling a change counter.

The domain table and the certificate store both answer every request from memory and reload
when a trigger-maintained counter in the database moves. :class:`Mirror` is that shared part:
the background poll, its start and stop, and a way for tests to await the next reload.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

log = logging.getLogger("edge.mirror")


class Mirror:
    """Base for a copy that :meth:`refresh` reloads; polled every ``poll_interval`` seconds.

    Subclasses implement ``refresh(force=False) -> bool`` and call :meth:`_reloaded` after
    a reload. A failed poll is logged and the last good copy keeps being served.
    """

    #: Seconds between polls of the change counter.
    poll_interval = 0.25
    #: Names the poll task and its log lines.
    mirror_name = "mirror"

    _poll_task: asyncio.Task | None = None
    _changed: asyncio.Event | None = None

    async def refresh(self, *, force: bool = False) -> bool:
        raise NotImplementedError

    async def start_polling(self) -> None:
        """Load the copy now, then keep it fresh in the background."""
        await self.refresh(force=True)
        self._poll_task = asyncio.create_task(self._poll(), name=self.mirror_name)

    async def stop_polling(self) -> None:
        if self._poll_task is not None:
            self._poll_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._poll_task
            self._poll_task = None

    async def wait_changed(self) -> None:
        """Wait for the next reload (tests await this instead of sleeping)."""
        if self._changed is None:
            self._changed = asyncio.Event()
        await self._changed.wait()

    def _reloaded(self) -> None:
        if self._changed is not None:
            self._changed.set()
        self._changed = asyncio.Event()

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(self.poll_interval)
            try:
                await self.refresh()
            except Exception as exc:
                log.warning("%s refresh failed: %s", self.mirror_name, exc)
