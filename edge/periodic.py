"""Background work: one job run every so often, for as long as an ``async with`` lasts.

Every background loop of the server (re-checking domains, renewing certificates, delivering
webhooks, pruning events, polling the in-memory copies) is a :class:`Periodic`::

    async with Periodic("retention", retention.prune, interval=3600):
        ...  # the server runs; the job runs every hour in a task of its own

A run that raises is logged and the next run comes at its time: a background job never dies
of one failure, and never takes the server down. :class:`~edge.db.store.StoreUnavailable`
(the database is locked or gone for a moment) is a warning, anything else an error with its
traceback.

A job every node of a cluster runs but that must run once per interval for the cluster
(re-checking domains, renewing certificates, pruning events) is wrapped in
:func:`once_per_cluster`: each run first takes the job's lease in the database.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
import uuid
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Any

from edge.db.store import Store, StoreUnavailable

log = logging.getLogger("edge.periodic")

Job = Callable[[], Awaitable[Any]]

#: This process, as the owner of job leases: host, pid and a random part (pids are reused).
PROCESS = f"{socket.gethostname()}/{os.getpid()}/{uuid.uuid4().hex[:8]}"


def once_per_cluster(store: Store, name: str, job: Job, *, interval: float) -> Job:
    """``job``, run only by the process that takes lease ``name`` for this interval.

    The lease ends a little before the interval does, so that the next turn's lease is free
    for whichever process looks first; the one holding it may always take it again.
    """

    async def run() -> None:
        now = time.time()
        async with store.transaction() as tx:
            mine = await tx.leases.take(name, PROCESS, now=now, until=now + interval * 0.9)
        if mine:
            await job()

    return run


class Periodic:
    """Runs ``job`` every ``interval`` seconds while entered; the first run after ``delay``
    (``0``: at once)."""

    def __init__(self, name: str, job: Job, *, interval: float, delay: float = 0.0) -> None:
        self.name = name
        self.job = job
        self.interval = interval
        self.delay = delay
        self._task: asyncio.Task[None] | None = None
        self._wakeup = asyncio.Event()

    def wake(self) -> None:
        """Run the job now rather than at the end of the current wait."""
        self._wakeup.set()

    async def __aenter__(self) -> Periodic:
        self._task = asyncio.create_task(self._loop(), name=self.name)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _loop(self) -> None:
        await self._wait(self.delay)
        while True:
            try:
                await self.job()
            except StoreUnavailable as exc:
                log.warning("%s postponed: %s", self.name, exc)
            except Exception:
                log.exception("%s failed", self.name)
            await self._wait(self.interval)

    async def _wait(self, seconds: float) -> None:
        if seconds > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), seconds)
        self._wakeup.clear()
